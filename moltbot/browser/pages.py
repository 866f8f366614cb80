"""One browser's tabs over its CDP connection: list/open/focus/close, attach, navigate, capture.

``PageSession`` is built once per browser run (``manager.py``) on the browser-level socket. Tabs are the
browser's ``page`` targets; one is attached (``Target.attachToTarget {flatten: true}``) on first use, and
its ``Tab`` keeps what the agent needs between requests: the ref table of its snapshots, the last
``CONSOLE_LIMIT`` console messages and page errors, and the lifecycle events of its current document
(what ``navigate`` waits on). The "current" tab is the one last opened or focused (else the first), as
in the original: requests without ``targetId`` go there. A ``targetId`` may be given as a unique prefix.
Target events keep the list true when a tab closes or navigates by itself.

With a navigation guard (``ssrf.py``), every document an attached tab loads is vetted, not only the URL
it was pointed at: ``Fetch.enable`` pauses each document request (a redirect's next hop, a link the page
follows, a script's ``location = …``, an iframe) and a task in the session's nursery lets it go on
(``Fetch.continueRequest``) or fails it (``Fetch.failRequest``, ``BlockedByClient``) with the reason in
the tab's console; ``navigate`` then answers 403 with that reason. Subresources (images, scripts,
``fetch``) are not vetted: the guard stops the browser being pointed at an internal page, it is not a
network sandbox.
"""

from __future__ import annotations

import base64
import collections
import logging
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio

from .cdp import CdpConnection, CdpError
from .profiles import ProfileSpec
from .snapshot import RefTable, Snapshot, render
from .ssrf import Guard, NavigationRefused, check_url

log = logging.getLogger("moltbot.browser")

CONSOLE_LIMIT = 500
MAX_CONSOLE_TEXT = 2000
WAIT_EVENTS = {"load": "load", "domcontentloaded": "DOMContentLoaded", "networkidle": "networkIdle"}
# Every document request of a guarded tab is paused until the guard has looked at it.
DOCUMENT_REQUESTS = {"patterns": [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}]}


class PageError(Exception):
    """A page operation failed for a reason the caller should see; ``status`` for the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@attrs.define(eq=False)
class Tab:
    target_id: str
    session_id: str
    url: str = ""
    title: str = ""
    refs: RefTable = attrs.field(factory=RefTable)
    console: collections.deque[dict[str, Any]] = attrs.field(
        factory=lambda: collections.deque(maxlen=CONSOLE_LIMIT)
    )
    lifecycle: dict[str, set[str]] = attrs.field(factory=dict)
    changed: trio.Event = attrs.field(factory=trio.Event)
    ax_enabled: bool = False
    refused: str | None = None  # why the guard last failed a document request of this tab

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_text(arg) for arg in params.get("args", ()))
            self.console.append(
                {
                    "type": str(params.get("type", "log")),
                    "text": text[:MAX_CONSOLE_TEXT],
                    "timestamp": params.get("timestamp"),
                }
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            text = (details.get("exception") or {}).get("description") or details.get("text") or "exception"
            self.console.append(
                {"type": "error", "text": str(text)[:MAX_CONSOLE_TEXT], "timestamp": params.get("timestamp")}
            )
        elif method == "Page.lifecycleEvent" and params.get("frameId") == self.target_id:
            loader = str(params.get("loaderId", ""))
            if params.get("name") == "init":
                self.lifecycle = {loader: set()}
                self.refs.clear()
            self.lifecycle.setdefault(loader, set()).add(str(params.get("name")))
            self._notify()
        elif method == "Page.frameNavigated" and not (params.get("frame") or {}).get("parentId"):
            self.url = str((params.get("frame") or {}).get("url", self.url))
            self._notify()


def _remote_text(arg: dict[str, Any]) -> str:
    if "value" in arg:
        return str(arg["value"])
    return str(arg.get("description") or arg.get("type", ""))


class PageSession:
    def __init__(
        self,
        cdp: CdpConnection,
        spec: ProfileSpec,
        *,
        guard: Guard | None = None,
        nursery: trio.Nursery | None = None,
    ) -> None:
        self.cdp = cdp
        self.spec = spec
        self.guard = guard if nursery is not None else None  # vetting runs in tasks of ``nursery``
        self._nursery = nursery
        self.tabs: dict[str, Tab] = {}
        self.current: str | None = None
        self._targets: dict[str, dict[str, Any]] = {}
        self._attach_lock = trio.Lock()

    @classmethod
    async def open(
        cls,
        cdp: CdpConnection,
        spec: ProfileSpec,
        *,
        guard: Guard | None = None,
        nursery: trio.Nursery | None = None,
    ) -> PageSession:
        """The session on ``cdp``; with ``guard`` (and the ``nursery`` its checks run in), every document
        its tabs load is vetted (see the module docstring)."""
        session = cls(cdp, spec, guard=guard, nursery=nursery)
        cdp.on_event(None, session._on_browser_event)
        await cdp.send("Target.setDiscoverTargets", {"discover": True})
        return session

    def tab_count(self) -> int:
        return sum(1 for info in self._targets.values() if info.get("type") == "page")

    def _on_browser_event(self, method: str, params: dict[str, Any]) -> None:
        info = params.get("targetInfo") or {}
        if method in ("Target.targetCreated", "Target.targetInfoChanged") and info.get("targetId"):
            self._targets[info["targetId"]] = info
            tab = self.tabs.get(info["targetId"])
            if tab is not None:
                tab.url, tab.title = str(info.get("url", tab.url)), str(info.get("title", tab.title))
        elif method == "Target.targetDestroyed":
            self._drop(str(params.get("targetId", "")))
        elif method == "Target.detachedFromTarget":
            target = next((t for t in self.tabs.values() if t.session_id == params.get("sessionId")), None)
            if target is not None:
                self._drop(target.target_id, keep_target=True)

    def _drop(self, target_id: str, *, keep_target: bool = False) -> None:
        tab = self.tabs.pop(target_id, None)
        if tab is not None:
            self.cdp.forget_session(tab.session_id)
        if not keep_target:
            self._targets.pop(target_id, None)
        if self.current == target_id:
            self.current = None

    # --- tabs -----------------------------------------------------------------------------------

    async def list_tabs(self) -> list[dict[str, Any]]:
        result = await self.cdp.send("Target.getTargets")
        pages = [info for info in result.get("targetInfos", ()) if info.get("type") == "page"]
        for info in pages:
            self._targets[info["targetId"]] = info
        return [
            {
                "targetId": i["targetId"],
                "title": i.get("title", ""),
                "url": i.get("url", ""),
                "type": "page",
                "current": i["targetId"] == self.current,
            }
            for i in pages
        ]

    async def open_tab(self, url: str, *, wait_until: str = "load") -> dict[str, Any]:
        """A new tab showing ``url``, answered once it loaded (blank first, then navigated: only an
        attached tab reports its lifecycle)."""
        result = await self.cdp.send("Target.createTarget", {"url": "about:blank"})
        target_id = str(result.get("targetId", ""))
        if not target_id:
            raise PageError("the browser opened no tab", 502)
        self.current = target_id
        tab = await self.tab(target_id)
        if url != "about:blank":
            await self.navigate(tab, url, wait_until=wait_until)
            tab.title = str(await self.evaluate(tab, "document.title") or "")
        return {"targetId": target_id, "title": tab.title, "url": tab.url or url, "type": "page"}

    async def focus(self, target_id: str) -> str:
        full = await self.resolve_target(target_id)
        await self.cdp.send("Target.activateTarget", {"targetId": full})
        self.current = full
        return full

    async def close(self, target_id: str) -> str:
        full = await self.resolve_target(target_id)
        await self.cdp.send("Target.closeTarget", {"targetId": full})
        self._drop(full)
        return full

    async def resolve_target(self, target_id: str) -> str:
        """A full target id from ``target_id`` or a unique prefix of one (404 if none, 409 if several)."""
        ids = [tab["targetId"] for tab in await self.list_tabs()]
        if target_id in ids:
            return target_id
        matches = [i for i in ids if i.lower().startswith(target_id.lower())]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise PageError(f"tab not found: {target_id[:64]}", 404)
        raise PageError(f"ambiguous targetId prefix {target_id[:64]!r} ({len(matches)} tabs)", 409)

    async def tab(self, target_id: str | None = None) -> Tab:
        """The tab ``target_id`` (else the current one, else the first, else a new blank one), attached."""
        full: str | None
        if target_id:
            full = await self.resolve_target(target_id)
        elif self.current and self.current in self.tabs:
            full = self.current
        else:
            tabs = await self.list_tabs()
            full = (
                self.current
                if any(t["targetId"] == self.current for t in tabs)
                else (tabs[0]["targetId"] if tabs else "")
            )
            if not full:
                return await self.tab((await self.open_tab("about:blank"))["targetId"])
        async with self._attach_lock:
            tab = self.tabs.get(full)
            if tab is None:
                tab = await self._attach(full)
        self.current = full
        return tab

    async def _attach(self, target_id: str) -> Tab:
        result = await self.cdp.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})
        session_id = str(result.get("sessionId", ""))
        if not session_id:
            raise PageError(f"cannot attach to tab {target_id}", 502)
        info = self._targets.get(target_id, {})
        tab = Tab(target_id, session_id, url=str(info.get("url", "")), title=str(info.get("title", "")))
        self.cdp.on_event(session_id, tab.on_event)
        self.tabs[target_id] = tab
        steps: list[tuple[str, dict[str, Any]]] = [
            ("Page.enable", {}),
            ("Page.setLifecycleEventsEnabled", {"enabled": True}),
            ("Runtime.enable", {}),
        ]
        if self.guard is not None:
            self.cdp.on_event(session_id, partial(self._on_guarded_event, tab))
            steps.append(("Fetch.enable", DOCUMENT_REQUESTS))
        for method, params in steps:
            await self.send(tab, method, params)
        return tab

    def _on_guarded_event(self, tab: Tab, method: str, params: dict[str, Any]) -> None:
        if method == "Fetch.requestPaused" and self._nursery is not None:
            self._nursery.start_soon(self._vet_request, tab, params)

    async def _vet_request(self, tab: Tab, params: dict[str, Any]) -> None:
        """Let a paused document request go on, or fail it with the guard's reason (in the tab's console)."""
        assert self.guard is not None
        request_id = params.get("requestId")
        url = str((params.get("request") or {}).get("url", ""))
        try:
            if urlsplit(url).scheme in ("http", "https"):  # other schemes (data:, blob:) reach no network
                await check_url(url, self.guard)
        except NavigationRefused as exc:
            tab.refused = f"navigation refused: {exc}"
            tab.console.append({"type": "error", "text": tab.refused[:MAX_CONSOLE_TEXT], "timestamp": None})
            log.info("browser tab %s: %s", tab.target_id[:8], tab.refused)
            method, answer = "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
        else:
            method, answer = "Fetch.continueRequest", {"requestId": request_id}
        try:
            await self.send(tab, method, answer, within=10.0)
        except CdpError:  # the tab or the browser went away meanwhile: nothing waits for this request
            pass

    # --- page operations ----------------------------------------------------------------------------

    async def send(
        self, tab: Tab, method: str, params: dict[str, Any] | None = None, *, within: float = 30.0
    ) -> dict[str, Any]:
        return await self.cdp.send(method, params, session_id=tab.session_id, within=within)

    async def evaluate(self, tab: Tab, expression: str, *, within: float = 30.0) -> Any:
        result = await self.send(
            tab,
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            within=within,
        )
        if result.get("exceptionDetails"):
            details = result["exceptionDetails"]
            raise PageError(f"script failed: {str(details.get('text', 'exception'))[:200]}", 500)
        return (result.get("result") or {}).get("value")

    async def navigate(
        self, tab: Tab, url: str, *, wait_until: str = "load", within: float = 30.0
    ) -> dict[str, Any]:
        if wait_until not in (*WAIT_EVENTS, "none", "commit"):
            raise PageError("waitUntil must be load, domcontentloaded, networkidle, commit or none")
        tab.refused = None
        result = await self.send(tab, "Page.navigate", {"url": url}, within=within)
        if result.get("errorText"):
            if tab.refused is not None and "BLOCKED_BY_CLIENT" in str(result["errorText"]):
                raise PageError(f"{tab.refused} (on the way to {url[:200]})", 403)
            raise PageError(f"navigation to {url[:200]} failed: {result['errorText']}", 502)
        loader = result.get("loaderId")
        wanted = WAIT_EVENTS.get(wait_until)
        if loader and wanted:
            with trio.move_on_after(within) as scope:
                while wanted not in tab.lifecycle.get(str(loader), set()):
                    await tab.changed.wait()
            if scope.cancelled_caught:
                raise PageError(f"navigation to {url[:200]}: no {wait_until} within {within:g} s", 504)
        tab.url = str(await self.evaluate(tab, "location.href") or url)
        return {"ok": True, "targetId": tab.target_id, "url": tab.url}

    async def snapshot(
        self, tab: Tab, *, interactive: bool = False, max_chars: int | None = None, depth: int | None = None
    ) -> Snapshot:
        if not tab.ax_enabled:
            await self.send(tab, "Accessibility.enable")
            tab.ax_enabled = True
        result = await self.send(tab, "Accessibility.getFullAXTree")
        return render(
            result.get("nodes", []),
            tab.refs,
            interactive=interactive,
            max_chars=max_chars or 80_000,
            max_depth=depth,
        )

    async def screenshot(
        self, tab: Tab, *, full_page: bool, clip: dict[str, float] | None, image_type: str
    ) -> bytes:
        params: dict[str, Any] = {
            "format": image_type,
            "captureBeyondViewport": full_page or clip is not None,
        }
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        elif full_page:
            metrics = await self.send(tab, "Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": min(float(size.get("width", 800)), 16_384),
                "height": min(float(size.get("height", 600)), 16_384),
                "scale": 1,
            }
        result = await self.send(tab, "Page.captureScreenshot", params, within=60.0)
        return base64.b64decode(result.get("data", ""))

    async def pdf(self, tab: Tab) -> bytes:
        try:
            result = await self.send(tab, "Page.printToPDF", {"printBackground": True}, within=60.0)
        except CdpError as exc:
            raise PageError(f"pdf failed (headless profiles only): {exc}", 409) from None
        return base64.b64decode(result.get("data", ""))

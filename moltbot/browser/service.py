"""The control API's routes, transport-free: ``handle(method, path, query, body) → (status, JSON)``.

The HTTP server (``server.py``) and ``browser.request`` over the gateway's WebSocket both call
``BrowserControl.handle``, so the two answer the same. Routes and fields follow the original's control
server: ``GET /`` (status), ``POST /start``, ``POST /stop``, ``GET /profiles``, ``GET /tabs``,
``POST /tabs/open``, ``POST /tabs/focus``, ``DELETE /tabs/<targetId>``, ``POST /navigate``,
``GET /snapshot``, ``POST /act``, ``POST /screenshot``, ``POST /pdf``, ``GET /console``, plus ``POST
/wait`` (= ``act`` kind ``wait``). Every route takes ``profile`` (query, else body). Errors are ``{"error":
reason}`` with the status the original gives (400 bad input, 404 unknown profile/tab/ref, 409 stale or
not running, 5xx browser trouble). Screenshots and PDFs are written under ``<state>/browser/media``
(0600, the last ``MEDIA_KEEP`` kept) and answered with their ``path``; ``inline: true`` adds the bytes
base64 as ``data``.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from ..store.atomic import ensure_dir, write_atomic
from .actions import act
from .cdp import CdpError
from .manager import BrowserError, BrowserManager
from .pages import PageError
from .profiles import ProfileError, find_executable
from .ssrf import Guard, NavigationRefused, check_url

log = logging.getLogger("moltbot.browser")

MEDIA_KEEP = 50
MAX_INLINE_BYTES = 8 * 1024 * 1024

Handler = Callable[[str | None, dict[str, str], dict[str, Any]], Awaitable[Any]]


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no"):
        return False
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


class BrowserControl:
    def __init__(
        self, manager: BrowserManager, guard: Guard, *, media_dir: Path | None, info: dict[str, Any]
    ) -> None:
        self.manager = manager
        self.guard = guard
        self.media_dir = media_dir
        self.info = info  # static status fields: controlUrl, noSandbox, executablePath, attachOnly
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/"): self._status,
            ("POST", "/start"): self._start,
            ("POST", "/stop"): self._stop,
            ("GET", "/profiles"): self._profiles,
            ("GET", "/tabs"): self._tabs,
            ("POST", "/tabs/open"): self._open,
            ("POST", "/tabs/focus"): self._focus,
            ("POST", "/navigate"): self._navigate,
            ("GET", "/snapshot"): self._snapshot,
            ("POST", "/act"): self._act,
            ("POST", "/wait"): self._wait,
            ("POST", "/screenshot"): self._screenshot,
            ("POST", "/pdf"): self._pdf,
            ("GET", "/console"): self._console,
        }

    async def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        """One request; never raises for the caller's or the browser's faults (they become the answer)."""
        method, path = method.upper(), "/" + path.strip("/")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return 400, {"error": "the body must be a JSON object"}
        profile = (
            query.get("profile")
            or (body.get("profile") if isinstance(body.get("profile"), str) else "")
            or ""
        ).strip() or None
        handler = self._routes.get((method, path))
        if handler is None and method == "DELETE" and path.startswith("/tabs/") and path.count("/") == 2:
            body = {**body, "targetId": path.removeprefix("/tabs/")}
            handler = self._close
        if handler is None:
            known = any(p == path for _, p in self._routes)
            return (405 if known else 404), {
                "error": f"{'method not allowed' if known else 'not found'}: {method} {path[:120]}"
            }
        try:
            return 200, await handler(profile, query, body)
        except (BrowserError, PageError) as exc:
            return exc.status, {"error": str(exc)}
        except NavigationRefused as exc:
            return 403, {"error": f"navigation refused: {exc}"}
        except ProfileError as exc:
            return 400, {"error": str(exc)}
        except CdpError as exc:
            return 502, {"error": f"browser error: {exc}"}

    # --- status and lifecycle -------------------------------------------------------------------------

    async def _status(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        state = self.manager.profile(profile)
        executable = find_executable(state.spec.executable_path)
        described = state.describe()
        return {
            "enabled": True,
            **self.info,
            "profile": state.spec.name,
            "running": described["running"],
            "cdpReady": described["running"],
            "status": state.status,
            "pid": state.pid,
            "cdpPort": state.cdp_port,
            "cdpUrl": described["cdpUrl"],
            "driver": state.spec.driver,
            "chosenBrowser": "chromium" if state.pid else None,
            "detectedBrowser": "chromium" if executable else None,
            "detectedExecutablePath": executable,
            "userDataDir": described["userDataDir"],
            "color": state.spec.color,
            "headless": state.spec.headless,
            "restarts": state.restarts,
            "lastError": state.last_error,
        }

    async def _start(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        await self.manager.ensure(profile)
        return {"ok": True, "profile": self.manager.profile(profile).spec.name}

    async def _stop(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        stopped = await self.manager.stop(profile)
        return {"ok": True, "stopped": stopped, "profile": self.manager.profile(profile).spec.name}

    async def _profiles(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        return {
            "profiles": [
                {**state.describe(), "isDefault": name == self.manager.default_profile}
                for name, state in self.manager.profiles.items()
            ]
        }

    # --- tabs -------------------------------------------------------------------------------------

    async def _tabs(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        state = self.manager.profile(profile)
        if state.session is None:
            return {"running": False, "tabs": []}
        return {"running": True, "tabs": await state.session.list_tabs()}

    async def _open(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        url = str(body.get("url") or "").strip()
        if not url:
            raise PageError("url is required")
        await check_url(url, self.guard)
        session = await self.manager.ensure(profile)
        return await session.open_tab(url)

    async def _running(self, profile: str | None):
        state = self.manager.profile(profile)
        if state.session is None:
            raise BrowserError("browser not running", 409)
        state.last_used = trio.current_time()
        return state.session

    async def _focus(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        target = str(body.get("targetId") or "").strip()
        if not target:
            raise PageError("targetId is required")
        await (await self._running(profile)).focus(target)
        return {"ok": True}

    async def _close(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        target = str(body.get("targetId") or "").strip()
        if not target:
            raise PageError("targetId is required")
        await (await self._running(profile)).close(target)
        return {"ok": True}

    # --- pages ------------------------------------------------------------------------------------

    async def _tab(self, profile: str | None, target: Any):
        session = await self.manager.ensure(profile)
        return session, await session.tab(
            str(target).strip() if isinstance(target, str) and target.strip() else None
        )

    async def _navigate(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        url = str(body.get("url") or "").strip()
        if not url:
            raise PageError("url is required")
        await check_url(url, self.guard)
        session, tab = await self._tab(profile, body.get("targetId"))
        timeout = min(max(_int(body.get("timeoutMs")) or 30_000, 100), 120_000) / 1000
        return await session.navigate(
            tab, url, wait_until=str(body.get("waitUntil") or "load"), within=timeout
        )

    async def _snapshot(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        if query.get("format", "ai") not in ("ai", "aria"):
            raise PageError("format must be ai or aria")
        session, tab = await self._tab(profile, query.get("targetId"))
        max_chars = _int(query.get("maxChars"))
        snapshot = await session.snapshot(
            tab,
            interactive=_flag(query.get("interactive")) is True,
            max_chars=min(max_chars, 500_000) if max_chars and max_chars > 0 else None,
            depth=_int(query.get("depth")),
        )
        return {
            "ok": True,
            "format": "ai",
            "targetId": tab.target_id,
            "url": tab.url,
            "snapshot": snapshot.text,
            "truncated": snapshot.truncated,
            "stats": {"lines": snapshot.nodes, "refs": snapshot.refs, "chars": len(snapshot.text)},
        }

    async def _act(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        session, tab = await self._tab(profile, body.get("targetId"))
        return await act(session, tab, body)

    async def _wait(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        return await self._act(profile, query, {**body, "kind": "wait"})

    async def _screenshot(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        image_type = str(body.get("type") or "png")
        if image_type not in ("png", "jpeg"):
            raise PageError("type must be png or jpeg")
        session, tab = await self._tab(profile, body.get("targetId"))
        clip = None
        ref = str(body.get("ref") or body.get("element") or "").strip()
        if ref:
            from .actions import _call, _element

            box = await _call(
                session,
                tab,
                await _element(session, tab, ref),
                "function(){ this.scrollIntoView({block:'center'}); const r = this.getBoundingClientRect();"
                " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }",
            )
            if box[2] <= 0 or box[3] <= 0:
                raise PageError(f"element {ref[:32]} is not visible (empty box)", 409)
            clip = {"x": box[0], "y": box[1], "width": box[2], "height": box[3]}
        data = await session.screenshot(
            tab, full_page=_flag(body.get("fullPage")) is True, clip=clip, image_type=image_type
        )
        return await self._media(
            tab, data, "png" if image_type == "png" else "jpg", _flag(body.get("inline"))
        )

    async def _pdf(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        session, tab = await self._tab(profile, body.get("targetId"))
        return await self._media(tab, await session.pdf(tab), "pdf", _flag(body.get("inline")))

    async def _console(self, profile: str | None, query: dict[str, str], body: dict[str, Any]) -> Any:
        session, tab = await self._tab(profile, query.get("targetId"))
        level = query.get("level", "")
        messages = [m for m in tab.console if not level or m["type"] == level]
        return {"ok": True, "targetId": tab.target_id, "messages": messages}

    async def _media(self, tab: Any, data: bytes, suffix: str, inline: bool | None) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": True, "targetId": tab.target_id, "url": tab.url, "bytes": len(data)}
        if self.media_dir is not None:
            path = self.media_dir / f"{uuid.uuid4().hex}.{suffix}"
            await trio.to_thread.run_sync(_save_media, path, data)
            answer["path"] = str(path)
        if inline or self.media_dir is None:
            if len(data) > MAX_INLINE_BYTES:
                raise PageError(
                    f"the capture is {len(data)} bytes, over the inline limit of {MAX_INLINE_BYTES}", 413
                )
            answer["data"] = base64.b64encode(data).decode("ascii")
        return answer


def _save_media(path: Path, data: bytes) -> None:
    ensure_dir(path.parent)
    write_atomic(path, data)
    files = sorted(path.parent.iterdir(), key=lambda p: p.stat().st_mtime)
    for old in files[:-MEDIA_KEEP]:
        try:
            old.unlink()
        except OSError:
            pass

"""The canvas host: a small ASGI app on a port of its own, served by hypercorn's trio worker.

Theory of operation. ``serve_canvas`` prepares the root, opens a nursery and runs hypercorn in it until
``stop`` is set; it reports the bound URL. The app answers
- ``GET/HEAD /__moltbot__/canvas/<path>``: the file under the root (``files.resolve_request_path`` is
  the only way from a URL to the disk), ``index.html`` for a directory, never a listing; HTML gets the
  live-reload script; other methods 405, anything else 404 (plain text);
- a WebSocket at ``/__moltbot/ws`` (live reload): it receives ``reload`` when a file under the root
  changes. ``LiveReload`` runs the watcher (watchfiles in a worker thread through anyio) only while at
  least one page is connected, and a socket is accepted only once the watcher runs, so a change made
  after the socket opened is always seen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import attrs
import trio
from hypercorn.config import Config as HypercornConfig

from .._util import collapse_single_exception_group
from ..config.model import GatewayConfig
from ..gateway import origin
from ..gateway.httpserver import serve
from . import files

if TYPE_CHECKING:  # imported when the first page subscribes to live reload
    import anyio
    import watchfiles

log = logging.getLogger("moltbot.canvas")

MOUNT = b"/__moltbot__/canvas"
WS_PATH = b"/__moltbot/ws"
CHUNK = 256 * 1024
DEBOUNCE_MS = 75  # quiet time that ends a burst of changes (an editor's save is several events)
WATCH_TIMEOUT_MS = 200
CLOSE_GOING_AWAY = 1001

LIVE_RELOAD_SCRIPT = """<script>
(() => {
  try {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(proto + "://" + location.host + "/__moltbot/ws");
    ws.onmessage = (ev) => { if (String(ev.data || "") === "reload") location.reload(); };
  } catch {}
})();
</script>
"""


class CanvasStartError(Exception):
    """The canvas host could not start (root unusable, port busy); the message says which and why."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable  # a busy port may free up; a bad root will not


@attrs.frozen
class CanvasSettings:
    host: str
    port: int  # 0: any free port
    root: Path
    live_reload: bool = True
    # The Host/Origin rules' keys (``gateway.origin.policy_config``): the canvas is rebinding-guarded too.
    policy: GatewayConfig = attrs.field(factory=GatewayConfig)


def inject_live_reload(html: str) -> str:
    """The page with the live-reload script before ``</body>`` (appended when there is none)."""
    at = html.lower().rfind("</body>")
    if at < 0:
        return html + "\n" + LIVE_RELOAD_SCRIPT
    return html[:at] + LIVE_RELOAD_SCRIPT + html[at:]


def _watch_filter(change: watchfiles.Change, path: str) -> bool:
    """Editors' temporary and hidden files do not reload the page."""
    import watchfiles

    name = Path(path).name
    return not name.startswith(".") and watchfiles.DefaultFilter()(change, path)


@attrs.define(eq=False)
class _Watch:
    stop: anyio.Event
    ready: trio.Event
    scope: trio.CancelScope


class LiveReload:
    """Connected pages and the watcher that tells them to reload (it runs while one is connected)."""

    def __init__(self, root: Path, nursery: trio.Nursery) -> None:
        self.root = root
        self.clients = 0
        self.reloads = 0
        self.closed = False
        self._nursery = nursery
        self._wake = trio.Event()
        self._watch: _Watch | None = None

    def next_wake(self) -> trio.Event:
        """Set at the next change (or when the server closes)."""
        return self._wake

    def _fire(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    def close(self) -> None:
        self.closed = True
        self._fire()
        self._stop_watch()

    @asynccontextmanager
    async def subscribed(self) -> Any:
        """Count a page in for the duration; the watcher is running when this is entered."""
        self.clients += 1
        try:
            if self._watch is None:
                import anyio

                watch = self._watch = _Watch(anyio.Event(), trio.Event(), trio.CancelScope())
                self._nursery.start_soon(self._run_watch, watch)
            await self._watch.ready.wait()
            yield
        finally:
            self.clients -= 1
            if self.clients == 0:
                self._stop_watch()

    def _stop_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop.set()  # the watcher thread sees it within DEBOUNCE_MS; then cancel anything left
            watch.scope.cancel()
            watch.ready.set()

    async def _run_watch(self, watch: _Watch) -> None:
        import watchfiles

        try:
            with watch.scope:
                async for changes in watchfiles.awatch(self.root, watch_filter=_watch_filter, step=DEBOUNCE_MS,
                                                       debounce=1000, rust_timeout=WATCH_TIMEOUT_MS,
                                                       yield_on_timeout=True, stop_event=watch.stop):
                    watch.ready.set()  # the first yield (a timeout at the latest): the watcher runs
                    if changes:
                        self.reloads += 1
                        log.debug("canvas changed (%d files): reloading %d pages", len(changes), self.clients)
                        self._fire()
        except Exception as exc:  # the root vanished, inotify limits…: pages stay, reloads stop
            log.warning("canvas live reload stopped: %s", exc)
        finally:
            watch.ready.set()
            if self._watch is watch:  # ended by itself: the next page to connect starts a new watcher
                self._watch = None


async def _send_simple(send: Callable[[dict], Awaitable[None]], status: int, body: bytes, *,
                       content_type: bytes = b"text/plain; charset=utf-8",
                       headers: Sequence[tuple[bytes, bytes]] = (), head: bool = False) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"), *headers]})
    await send({"type": "http.response.body", "body": b"" if head else body})


class CanvasApp:
    """The ASGI app of one canvas server."""

    def __init__(self, root: Path, hub: LiveReload, live_reload: bool, policy: GatewayConfig | None = None) -> None:
        self.root = root
        self.hub = hub
        self.live_reload = live_reload
        self.policy = policy or GatewayConfig()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await origin.guard(scope, receive, send, self.policy, self._serve)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: dict[str, Any], send: Any) -> None:
        raw = (scope.get("raw_path") or scope["path"].encode("utf-8")).split(b"?", 1)[0]
        method = scope["method"]
        head = method == "HEAD"
        if raw.startswith(MOUNT + b"/") or raw in (MOUNT, b"/"):
            if method not in ("GET", "HEAD"):
                await _send_simple(send, 405, b"Method Not Allowed", headers=[(b"allow", b"GET, HEAD")])
            elif raw in (MOUNT, b"/"):
                await _send_simple(send, 302, b"Found", headers=[(b"location", MOUNT + b"/")], head=head)
            else:
                await self._serve_file(raw[len(MOUNT) + 1:], send, head=head)
        elif raw == WS_PATH and self.live_reload:
            await _send_simple(send, 426, b"Upgrade Required", head=head)
        else:
            await _send_simple(send, 404, b"Not Found", head=head)

    async def _serve_file(self, raw_path: bytes, send: Any, *, head: bool) -> None:
        try:  # one thread hop for the lookup and, for a small file or a page, its bytes
            found = await trio.to_thread.run_sync(_open_small, self.root, raw_path)
        except OSError:
            log.exception("canvas: cannot read %r", raw_path)
            await _send_simple(send, 500, b"Internal Server Error", head=head)
            return
        if found is None:
            await _send_simple(send, 404, b"Not Found", head=head)
            return
        path, handle, size, data = found
        if data is not None:
            if files.is_html(path):
                html = data.decode("utf-8", errors="replace")
                data = (inject_live_reload(html) if self.live_reload else html).encode("utf-8")
            await _send_simple(send, 200, data, content_type=files.content_type(path).encode(), head=head)
            return
        assert handle is not None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", files.content_type(path).encode()), (b"content-length", str(size).encode()),
                (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
            remaining = 0 if head else size
            while remaining > 0:  # at most the size announced, even if the file grows meanwhile
                chunk = await trio.to_thread.run_sync(handle.read, min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            if head or remaining > 0:  # HEAD, or the file shrank: end the response (hypercorn checks length)
                await send({"type": "http.response.body", "body": b""})
        finally:
            handle.close()

    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if scope.get("raw_path", scope["path"].encode()).split(b"?", 1)[0] != WS_PATH or not self.live_reload \
                or self.hub.closed:
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        async with self.hub.subscribed():
            await send({"type": "websocket.accept"})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._until_disconnect, receive, nursery.cancel_scope)
                await self._push_reloads(send)
                nursery.cancel_scope.cancel()

    async def _push_reloads(self, send: Any) -> None:
        try:
            wake = self.hub.next_wake()
            while not self.hub.closed:
                await wake.wait()
                wake = self.hub.next_wake()  # before sending: a change made meanwhile is not missed
                if not self.hub.closed:
                    await send({"type": "websocket.send", "text": "reload"})
            await send({"type": "websocket.close", "code": CLOSE_GOING_AWAY, "reason": "canvas host stopping"})
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError, OSError):
            return

    @staticmethod
    async def _until_disconnect(receive: Any, scope: trio.CancelScope) -> None:
        while (await receive())["type"] != "websocket.disconnect":
            pass  # pages have nothing to say
        scope.cancel()


def _open_small(root: Path, raw_path: bytes) -> tuple[Path, BinaryIO | None, int, bytes | None] | None:
    """(path, open handle, size, None) for a large file; (path, None, size, bytes) for a page or a file of
    at most one chunk; None when there is no such file (→ 404). Blocking: run it in a thread."""
    path = files.resolve_request_path(root, raw_path)
    if path is None:
        return None
    try:
        handle = files.open_file(path)
    except FileNotFoundError:  # removed since it was resolved
        return None
    size = os.fstat(handle.fileno()).st_size
    if size > CHUNK and not files.is_html(path):
        return path, handle, size, None
    with handle:
        data = handle.read()
    return path, None, len(data), data


def _hypercorn_config(host: str, port: int) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("moltbot.canvas.http")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 5.0
    config.websocket_ping_interval = None
    return config


async def serve_canvas(settings: CanvasSettings, stop: trio.Event, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve the canvas until ``stop`` is set; ``task_status.started(url)`` once bound.

    Raises:
        CanvasStartError: the root cannot be prepared or the port cannot be bound.
    """
    try:
        root = await trio.to_thread.run_sync(files.prepare_root, settings.root)
    except OSError as exc:
        raise CanvasStartError(f"cannot use canvasHost.root {settings.root}: {exc.strerror or exc}") from exc
    with collapse_single_exception_group():
        async with trio.open_nursery() as nursery:
            await _serve_in(nursery, settings, root, stop, task_status)


async def _serve_in(nursery: trio.Nursery, settings: CanvasSettings, root: Path, stop: trio.Event,
                    task_status: Any) -> None:
    hub = LiveReload(root, nursery)
    app = CanvasApp(root, hub, settings.live_reload, settings.policy)

    async def shutdown_trigger() -> None:
        await stop.wait()
        hub.close()  # live-reload sockets close now rather than holding the graceful shutdown

    async def run_server(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(cast(Any, app), _hypercorn_config(settings.host, settings.port),
                        shutdown_trigger=shutdown_trigger, task_status=task_status)
        finally:
            hub.close()
            nursery.cancel_scope.cancel()  # the watcher, if any

    try:
        binds = await nursery.start(run_server)
    except (OSError, ExceptionGroup) as exc:
        error = exc if isinstance(exc, OSError) else _first_os_error(exc)
        if error is None:
            raise
        raise CanvasStartError(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}",
                               retryable=True) from exc
    task_status.started(binds[0])


def _first_os_error(group: BaseExceptionGroup) -> OSError | None:
    match: BaseException | None = group.subgroup(OSError)
    while isinstance(match, BaseExceptionGroup):
        match = match.exceptions[0]
    return match if isinstance(match, OSError) else None


__all__ = ["CanvasApp", "CanvasSettings", "CanvasStartError", "LiveReload", "inject_live_reload", "serve_canvas"]

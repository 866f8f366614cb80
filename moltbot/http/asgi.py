"""The ASGI app behind the one port: WebSocket upgrades go to the control plane, HTTP to quart-trio.

Any WebSocket path is the gateway's control plane (as in the reference, the path is not checked). The
WebSocket is handled at the ASGI level, not through Quart's websocket machinery, so the per-frame path is
hypercorn → our reader with nothing in between.

Quart (with its Flask, Werkzeug and Jinja layers, a fifth of the gateway's start-up and ~10 MiB) is
imported when the first HTTP request arrives, not at start: a gateway serving only WebSocket clients never
loads it. The import runs in a worker thread (``trio.to_thread``) so the Trio thread keeps serving; the
Quart app is built once, on the Trio thread, by whichever request finds it missing first. ``quart_trio``
is checked at start (``find_spec``), so a broken install fails there, as it did when the import was eager.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

import trio

from ..gateway import origin
from ..gateway.transport import AsgiWebSocket, TransportClosed
from .access import access_logged

if TYPE_CHECKING:
    from .host import HttpHost

PROBES = {
    "/health": "live",
    "/healthz": "live",
    "/ready": "ready",
    "/readyz": "ready",
    "/startup": "startup",
    "/startupz": "startup",
}


def probe_kind(path: str) -> str | None:
    """``"live"``, ``"ready"`` or ``"startup"`` for a probe path (``http.probes``); None for any other path."""
    return PROBES.get(path)


class MissingHttpStack(RuntimeError):
    """quart-trio is not installed: the gateway cannot serve HTTP."""


def require_http_stack() -> None:
    """Fail now, not at the first request, when the HTTP stack is missing (a metadata lookup, no import)."""
    if importlib.util.find_spec("quart_trio") is None or importlib.util.find_spec("quart") is None:
        raise MissingHttpStack(
            "quart-trio is not installed: `pip install moltbot` installs it (it serves the "
            "gateway's HTTP endpoints)"
        )


def make_asgi_app(gateway: HttpHost) -> Any:
    require_http_stack()
    http_app: Any = None  # the Quart app (http.app), built at the first HTTP request
    building: trio.Event | None = None

    async def quart_app() -> Any:
        nonlocal http_app, building
        while http_app is None:
            if building is not None:  # another request is importing it: wait for that one
                await building.wait()
                continue
            building = trio.Event()
            try:
                module = await trio.to_thread.run_sync(importlib.import_module, "moltbot.http.app")
                built = module.make_http_app(gateway)
                await built.startup()  # what lifespan.startup did (before_serving: none registered)
                http_app = built
            finally:
                building.set()
                building = None
        return http_app

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and probe_kind(scope.get("path", "")) is not None:
            await (await quart_app())(scope, receive, send)  # probes skip the Host guard: see http.probes
        elif scope["type"] in ("http", "websocket"):  # Host and Origin first (gateway.origin)
            config = (await gateway.current_runtime()).config.gateway
            await origin.guard(scope, receive, send, config, serve)
        elif scope["type"] == "lifespan":
            await lifespan(receive, send)

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            transport = AsgiWebSocket(scope, receive, send)
            try:
                await transport.accept()
            except TransportClosed:
                return
            await gateway.serve_websocket(transport)
        else:
            await (await quart_app())(scope, receive, send)

    return access_logged(app)


async def lifespan(receive: Any, send: Any) -> None:
    """The server's lifespan events, answered here: nothing starts with the server or stops with it (the
    Quart app needs no background-task nursery: no route adds a background task)."""
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

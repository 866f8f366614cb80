"""The ASGI app behind the one port: WebSocket upgrades go to the control plane, HTTP to quart-trio.

Any WebSocket path is the gateway's control plane (as in the reference, the path is not checked). The
WebSocket is handled at the ASGI level, not through Quart's websocket machinery, so the per-frame path is
hypercorn → our reader with nothing in between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response
from quart_trio import QuartTrio

from ..gateway.connection import serve_connection
from ..gateway.transport import AsgiWebSocket, TransportClosed

if TYPE_CHECKING:
    from ..gateway.app import Gateway


def make_http_app(gateway: Gateway) -> QuartTrio:
    app = QuartTrio("moltbot")

    @app.get("/")
    async def index() -> Response:
        return Response(f"moltbot gateway {gateway.version}: connect a WebSocket client to this URL\n",
                        content_type="text/plain; charset=utf-8")

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return Response("Not Found", status=404, content_type="text/plain")

    return app


def make_asgi_app(gateway: Gateway) -> Any:
    http_app = make_http_app(gateway)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            transport = AsgiWebSocket(scope, receive, send)
            try:
                await transport.accept()
            except TransportClosed:
                return
            await serve_connection(await gateway.current_runtime(), transport)
        else:
            await http_app(scope, receive, send)

    return app

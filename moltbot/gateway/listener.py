"""The one listening port: hypercorn's trio worker serving the ASGI app (WebSocket at ``/`` plus HTTP)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from ..config.model import GatewayConfig


def _patch_hypercorn_send_race() -> None:
    """hypercorn's TCP server half-closes the socket (``send_eof``) outside its send lock, so a close
    frame it sends from its reader task can collide with it: ``BusyResourceError`` escapes the
    connection task and takes the whole listener down (seen in CI). Treat it as what it is, a socket
    being closed. Applied once, at import; only that exception is caught."""
    from hypercorn.events import Closed
    from hypercorn.trio.tcp_server import TCPServer

    if getattr(TCPServer.protocol_send, "_moltbot_patched", False):
        return
    original = TCPServer.protocol_send

    async def protocol_send(self, event):  # type: ignore[no-untyped-def]
        try:
            await original(self, event)
        except trio.BusyResourceError:
            await self.protocol.handle(Closed())

    protocol_send._moltbot_patched = True  # type: ignore[attr-defined]
    TCPServer.protocol_send = protocol_send


def _patch_hypercorn_parse_failures() -> None:
    """Answer a WebSocket frame wsproto cannot accept with a close frame, as RFC 6455 §7.1.7 asks.

    wsproto reports a frame it fails to parse (invalid UTF-8 in a text frame: 1007; a protocol error:
    1002) as a ``CloseConnection`` event but leaves its state ``OPEN``; hypercorn answers a
    ``CloseConnection`` only in state ``REMOTE_CLOSING``, so it dropped the TCP connection without any
    close frame (the peer saw 1006). hypercorn's server connections are made through the
    ``Connection`` name of ``hypercorn.protocol.ws_stream``; this subclass moves such an event to
    ``REMOTE_CLOSING``, so hypercorn's own code sends the close frame (with the failure's code) and then
    closes. A received close frame already arrives in that state, so only parse failures are affected.
    The reason for 1007 is "invalid UTF-8" (not the decoder's message). Applied once, at import.
    """
    from hypercorn.protocol import ws_stream
    from wsproto.connection import Connection, ConnectionState
    from wsproto.events import CloseConnection
    from wsproto.frame_protocol import CloseReason

    if getattr(ws_stream.Connection, "_moltbot_patched", False):
        return

    class FailingConnection(Connection):
        _moltbot_patched = True

        def events(self):  # type: ignore[no-untyped-def]
            for event in super().events():
                if isinstance(event, CloseConnection) and self.state is ConnectionState.OPEN:
                    self._state = ConnectionState.REMOTE_CLOSING
                    if event.code == CloseReason.INVALID_FRAME_PAYLOAD_DATA:
                        event = CloseConnection(code=event.code, reason="invalid UTF-8")
                yield event

    ws_stream.Connection = FailingConnection  # type: ignore[misc]


_patch_hypercorn_send_race()
_patch_hypercorn_parse_failures()


class BindError(Exception):
    """The configured bind cannot be used."""


def resolve_bind_host(config: GatewayConfig) -> str:
    """The address to listen on for ``gateway.bind`` (reference §7.4; no tailnet discovery here)."""
    if config.bind in ("loopback", "auto", "tailnet"):
        return "127.0.0.1"
    if config.bind == "lan":
        return "0.0.0.0"
    host = config.custom_bind_host
    if not host:
        raise BindError("gateway.bind is custom but gateway.customBindHost is not set")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise BindError(f"gateway.customBindHost is not an IPv4 address: {host!r}") from None
    return host


async def serve_listener(app: Any, host: str, port: int, max_payload: int,
                         shutdown_trigger: Callable[[], Awaitable[None]], *,
                         task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown_trigger`` returns; started with the bound URLs."""
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.websocket_max_message_size = max_payload
    config.accesslog = None
    config.errorlog = logging.getLogger("moltbot.http")
    config.graceful_timeout = 1.0
    # Also how long hypercorn keeps a connection that closed before finishing its request (two tasks).
    config.keep_alive_timeout = 5.0
    config.websocket_ping_interval = None
    await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)

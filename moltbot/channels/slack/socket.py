"""Slack Socket Mode: ``apps.connections.open`` → a WebSocket → envelopes, each acknowledged.

Theory of operation. The app-level token (``xapp-…``) asks ``apps.connections.open`` for a single-use
``wss://`` URL; the connection opens with a ``hello``. Every event then arrives as an *envelope*
``{"envelope_id", "type": "events_api" | "slash_commands" | "interactive", "payload", "retry_attempt"}``
which must be acknowledged with ``{"envelope_id"}`` within 3 seconds or Slack sends it again (and, if
that keeps happening, stops sending). Envelopes are handled one at a time, in order: ``handle`` returns
once the message has a durable receipt in the delivery store (milliseconds: the turn runs elsewhere,
later), and only then is the ack sent, so a crash between the two makes Slack redeliver, and the receipt
drops the copy. A handler that fails is the caller's to dead-letter; this loop still acknowledges.

Slack ends connections itself: a ``disconnect`` message (``warning``: about to close;
``refresh_requested``: the connection is old) means "open a fresh URL", which this loop does at once,
without the account going down; ``link_disabled`` (Socket Mode switched off for the app) ends the loop
with ``SocketModeError``, so the channel manager retries on its backoff ladder and shows why. A
connection closed without a ``disconnect``, or no ``hello`` in time, is a ``SocketModeError`` too.

Liveness: every frame counts as traffic (``on_activity``); when the socket has been quiet for
``PING_SECONDS`` we ping it, and a pong not back within ``PONG_SECONDS`` ends the connection (as the
Slack SDKs' client pong timeout does) instead of trusting a socket that is open but dead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio_websocket

from ..._tls import client_ssl_context
from .api import SlackApi

log = logging.getLogger("moltbot.channels.slack")

HELLO_SECONDS = 15.0
PING_SECONDS = 20.0
PONG_SECONDS = 15.0
MAX_MESSAGE = 1024 * 1024  # an envelope larger than this closes the connection (Slack's are a few KB)
CONNECT_SECONDS = 20.0
CLOSE_SECONDS = 2.0  # how long a closing handshake may take (a dead peer never answers it)

Handler = Callable[[Any, str], Awaitable[None]]  # (payload, envelope_id)
_TICKET = re.compile(r"ticket=[^&\s]+")


class _RedactTicket(logging.Filter):
    """trio-websocket logs the URL it connects to (debug); a Socket Mode URL's ticket admits its holder."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "ticket=" in message:
            record.msg, record.args = _TICKET.sub("ticket=<redacted>", message), None
        return True


logging.getLogger("trio-websocket").addFilter(_RedactTicket())


class SocketModeError(Exception):
    """The Socket Mode connection ended in a way a fresh one may fix, later (the manager's backoff)."""


async def serve_socket_mode(app_api: SlackApi, handle: Handler, *, on_hello: Callable[[], None],
                            on_activity: Callable[[], None] = lambda: None,
                            on_reconnect: Callable[[str], None] = lambda reason: None) -> None:
    """Run connections one after the other, forever; each ``events_api`` payload goes to ``handle(payload, envelope_id)``.

    ``on_hello`` is called after every ``hello``; ``on_reconnect(reason)`` when Slack asked for a fresh
    connection. Raises ``SocketModeError`` (or the ``SlackApiError`` of ``apps.connections.open``)."""
    while True:
        url = await app_api.open_connection()
        reason = await _run_connection(url, handle, on_hello, on_activity)
        if reason == "link_disabled":
            raise SocketModeError("Slack disabled Socket Mode for this app (disconnect: link_disabled)")
        log.info("slack socket mode: %s; opening a fresh connection", reason)
        on_reconnect(reason)


async def _run_connection(url: str, handle: Handler, on_hello: Callable[[], None],
                          on_activity: Callable[[], None]) -> str:
    """One connection until Slack sends ``disconnect``: its reason."""
    ssl_context = client_ssl_context() if url.startswith("wss://") else None
    try:
        async with trio_websocket.open_websocket_url(url, ssl_context, max_message_size=MAX_MESSAGE,
                                                     connect_timeout=CONNECT_SECONDS,
                                                     disconnect_timeout=CLOSE_SECONDS) as ws:
            async with trio.open_nursery() as nursery:
                quiet = _Quiet()
                nursery.start_soon(_keep_alive, ws, quiet, on_activity)

                def heard() -> None:
                    quiet.heard()
                    on_activity()

                reason = await _read(ws, handle, on_hello, heard)
                nursery.cancel_scope.cancel()
                return reason
    except trio_websocket.HandshakeError as exc:
        raise SocketModeError(f"slack socket mode: WebSocket handshake failed ({type(exc).__name__})") from None
    except trio_websocket.ConnectionClosed as exc:
        code = getattr(exc.reason, "code", None)
        raise SocketModeError(f"slack socket mode: connection closed (code {code})") from None
    except OSError as exc:
        raise SocketModeError(f"slack socket mode: cannot connect ({type(exc).__name__})") from None


class _Quiet:
    """When this connection was last heard from (the Trio clock)."""

    def __init__(self) -> None:
        self.last = trio.current_time()
        self.changed = trio.Event()

    def heard(self) -> None:
        self.last = trio.current_time()
        self.changed.set()
        self.changed = trio.Event()


async def _keep_alive(ws: trio_websocket.WebSocketConnection, quiet: _Quiet, on_activity: Callable[[], None]) -> None:
    while True:
        await trio.sleep_until(quiet.last + PING_SECONDS)
        if trio.current_time() < quiet.last + PING_SECONDS:
            continue  # heard meanwhile
        with trio.move_on_after(PONG_SECONDS) as waited:
            await ws.ping()
        if waited.cancelled_caught:
            log.warning("slack socket mode: no pong within %.0fs; reconnecting", PONG_SECONDS)
            await ws.aclose(code=1001, reason="no pong")
            return
        quiet.heard()
        on_activity()


async def _read(ws: trio_websocket.WebSocketConnection, handle: Handler, on_hello: Callable[[], None],
                heard: Callable[[], Any]) -> str:
    hello = False
    with trio.move_on_after(HELLO_SECONDS) as waiting:
        while not hello:
            message = _parse(await ws.get_message())
            heard()
            hello = message.get("type") == "hello"
            if message.get("type") == "disconnect":
                return str(message.get("reason") or "disconnect")
    if waiting.cancelled_caught:
        raise SocketModeError(f"slack socket mode: no hello within {HELLO_SECONDS:.0f}s")
    on_hello()
    while True:
        message = _parse(await ws.get_message())
        heard()
        kind = message.get("type")
        if kind == "disconnect":
            return str(message.get("reason") or "disconnect")
        envelope_id = message.get("envelope_id")
        if not isinstance(envelope_id, str) or not envelope_id:
            continue  # nothing to acknowledge (a second hello, or a type newer than this build)
        payload = message.get("payload")
        if kind == "events_api":
            await handle(payload, envelope_id)
        else:
            log.info("slack socket mode: %s envelope acknowledged, not handled by this build", kind)
        await ws.send_message(json.dumps({"envelope_id": envelope_id}))


def _parse(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

"""Slack Socket Mode: ``apps.connections.open`` → a WebSocket → envelopes, each acknowledged.

Theory of operation. The app-level token (``xapp-…``) asks ``apps.connections.open`` for a single-use
``wss://`` URL; the connection opens with a ``hello``. Every event then arrives as an *envelope*
``{"envelope_id", "type": "events_api" | "slash_commands" | "interactive", "payload", "retry_attempt"}``
which must be acknowledged with ``{"envelope_id"}`` within 3 seconds or Slack sends it again, at most 3
times, then drops it. A reader task moves envelopes off the socket into a queue as they arrive; the
acknowledging loop takes what has queued (up to ``BATCH``) and hands it to ``handle``, which returns once
each message has a durable receipt in the delivery store (one transaction for the batch, milliseconds: the
turns run elsewhere, later); only then are the acks sent, in order. A crash between the two makes Slack
redeliver, and the receipt drops the copy. A handler that fails is the caller's to dead-letter; this loop
still acknowledges.

Stopping (the account cancelled by a restart): an envelope already read still gets its receipt and its
ack before the socket closes (shielded, at most ``FINISH_SECONDS``), since a restart that dropped it
would spend one of Slack's 3 redeliveries, and a few restarts in a row (each cutting a backlog that
waited for the store's writer) lost the message. A batch that cannot be received within
``FINISH_SECONDS`` ends the connection (``SocketModeError``): Slack redelivers it to the next one.

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
FINISH_SECONDS = 5.0  # receipts + acks of the envelopes read (also while stopping); longer ends the connection
BATCH = 64  # envelopes received (one store transaction) and acknowledged together, at most
QUEUED = 256  # envelopes read but not yet received, at most (then the reader waits: Slack's 3 s ack clock runs)

Handler = Callable[[list[tuple[Any, str]]], Awaitable[None]]  # [(payload, envelope_id)], durably received
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
    queue_in, queue = trio.open_memory_channel[dict[str, Any]](QUEUED)
    ended: list[BaseException | str] = []  # the reader's outcome: Slack's disconnect reason, or the close
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_pull, ws, queue_in, heard, ended)
        try:
            await _acknowledge(ws, queue, handle)
        except (SocketModeError, trio_websocket.ConnectionClosed) as exc:  # raised below, not as a group
            ended.insert(0, exc)
            nursery.cancel_scope.cancel()
    outcome = ended[0] if ended else "disconnect"
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


async def _pull(ws: trio_websocket.WebSocketConnection, queue: trio.MemorySendChannel[dict[str, Any]],
                heard: Callable[[], Any], ended: list[BaseException | str]) -> None:
    """Move envelopes off the socket into ``queue`` until Slack's ``disconnect`` or the close (recorded in
    ``ended``); closing ``queue`` lets the acknowledging loop finish what was read."""
    async with queue:
        try:
            while True:
                message = _parse(await ws.get_message())
                heard()
                if message.get("type") == "disconnect":
                    ended.append(str(message.get("reason") or "disconnect"))
                    return
                envelope_id = message.get("envelope_id")
                if isinstance(envelope_id, str) and envelope_id:  # else nothing to ack (a second hello…)
                    await queue.send(message)
        except trio_websocket.ConnectionClosed as exc:
            ended.append(exc)


async def _acknowledge(ws: trio_websocket.WebSocketConnection, queue: trio.MemoryReceiveChannel[dict[str, Any]],
                       handle: Handler) -> None:
    """Receive and acknowledge what ``_pull`` queues, a batch at a time, until it stops; cancelled, the
    envelopes already queued are received and acknowledged first (shielded, bounded)."""
    while True:
        try:
            batch = [await queue.receive()]
        except trio.EndOfChannel:
            return
        except trio.Cancelled:
            rest = _waiting(queue, QUEUED)
            if rest:
                try:
                    await _finish(ws, rest, handle)
                except (SocketModeError, trio_websocket.ConnectionClosed):
                    pass  # the receipts that could be written are; Slack redelivers the rest
            raise
        await _finish(ws, batch + _waiting(queue, BATCH - 1), handle)


def _waiting(queue: trio.MemoryReceiveChannel[dict[str, Any]], most: int) -> list[dict[str, Any]]:
    taken: list[dict[str, Any]] = []
    while len(taken) < most:
        try:
            taken.append(queue.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return taken


async def _finish(ws: trio_websocket.WebSocketConnection, envelopes: list[dict[str, Any]], handle: Handler) -> None:
    """Durable receipts for ``envelopes``, then their acks: shielded, so a stop cannot fall between a read
    and its receipt; bounded by ``FINISH_SECONDS``."""
    with trio.CancelScope(shield=True):
        with trio.move_on_after(FINISH_SECONDS) as bound:
            events = [(e.get("payload"), e["envelope_id"]) for e in envelopes if e.get("type") == "events_api"]
            for envelope in envelopes:
                if envelope.get("type") != "events_api":
                    log.info("slack socket mode: %s envelope acknowledged, not handled by this build",
                             envelope.get("type"))
            if events:
                await handle(events)
            for envelope in envelopes:
                await ws.send_message(json.dumps({"envelope_id": envelope["envelope_id"]}))
        if bound.cancelled_caught:
            raise SocketModeError(f"slack socket mode: {len(envelopes)} envelope(s) not received within "
                                  f"{FINISH_SECONDS:g}s; reconnecting (Slack redelivers them)")


def _parse(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

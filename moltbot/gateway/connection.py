"""One client connection: the handshake, then a nursery holding its reader, writer and request handlers.

Theory of operation. Every connection runs in the connection nursery of the Runtime current when it was
accepted (``serve_connections``, the Runtime's ``connections`` task): the listener's task for the socket
hands the accepted WebSocket over with ``serve_client`` and only waits, so cancelling the Runtime ends
every connection it served (those still open are closed 1012 first, bounded) and no connection task
outlives its Runtime. ``serve_connection`` sends ``connect.challenge``, waits (bounded by the handshake
timeout) for the first frame and applies the ``ServerHandshake``'s outcome; auth is checked on an
``Accept``. Once ``hello-ok`` is sent the connection is registered with the gateway (so it receives
broadcasts) and its nursery runs:
- the reader, which feeds text to the ``ServerSession`` and runs each ``Call``: quick handlers (those
  that never wait on anything but the CPU) inline, others in a task of their own, at most
  ``gateway.maxInFlightRequests`` at once (past it a request is answered UNAVAILABLE at once);
- a writer, started when the byte-bounded ``OutboundQueue`` becomes non-empty and ending when it is
  drained (an idle connection keeps no writer task: less memory per connection). Writes are serialized
  by ``transmit``; the reader writes a response itself when nothing is queued or being written, which
  saves a task switch per request without reordering anything already queued.
When either side ends (peer closed, close requested, slow consumer) the nursery is cancelled, and the
connection is unregistered. Handlers raise ``ProtocolError``; this module is the one place where
exceptions become error frames, and any other exception is logged and answered with a stable message
(its text, which can hold paths and internals, never reaches the client).
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._util import wall_ms
from ..protocol import (
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVICE_RESTART,
    UNAVAILABLE,
    Accept,
    Call,
    ConnectParams,
    ProtocolError,
    Reject,
    Reply,
    ResponseFrame,
    ServerHandshake,
    ServerSession,
    dumps,
    encode_frame,
    error_response,
    unstructure,
)
from .connlog import log_call, log_connect, log_connect_frame, log_disconnect, log_rejected
from .hello import hello_frame
from .outbound import CloseRequest, OutboundQueue, SlowConsumer
from .transport import Transport, TransportClosed

if TYPE_CHECKING:
    from .runtime import Runtime
    from .websocket import WebSocket

log = logging.getLogger("moltbot.gateway")

CLOSE_INTERNAL_ERROR = 1011  # the WebSocket close code for "the server hit an unexpected condition"
PAUSE_READING_BYTES = 256 * 1024  # answers queued past this: the request's sender waits (``respond``)


@attrs.define(eq=False)
class Connection:
    """A connected, authenticated client as the rest of the gateway sees it."""

    conn_id: str
    transport: Transport
    queue: OutboundQueue
    params: ConnectParams
    session: ServerSession
    nursery: trio.Nursery | None = None
    presence_key: str | None = None
    closing: bool = False
    slow: bool = False
    writing: bool = False
    sending: bool = False
    in_flight: int = 0  # requests running in tasks of their own (``gateway.maxInFlightRequests``)
    close_code: int | None = None  # ours when we closed, else the peer's (for the disconnect log line)
    opened_at: float = attrs.field(factory=trio.current_time)
    _send_free: trio.Event | None = None

    @property
    def tracked(self) -> bool:
        """CLI clients (``client.mode: "cli"``) are not in the presence list, as in the original."""
        return self.params.client.mode != "cli"

    def send(self, text: str, *, droppable: bool = False) -> None:
        """Queue one encoded frame; a client too slow for a non-droppable frame is closed 1008."""
        if self.closing:
            return
        if not (self.writing or self.sending or self.queue) and self.nursery is not None:
            try_send = getattr(self.transport, "try_send", None)
            if try_send is not None and try_send(text):  # written at once: no queue, no writer task
                self.queue.sent += 1
                if getattr(self.transport, "pending", False):  # a part was taken: a writer sends the rest
                    self._start_writer()
                return
        try:
            if self.queue.put_nowait(text, droppable=droppable):
                self._start_writer()
        except SlowConsumer:
            self.slow = not self.closing
            self.abort(CLOSE_POLICY_VIOLATION, "slow consumer")

    def _start_writer(self) -> None:
        if not self.writing and self.nursery is not None:
            self.writing = True
            self.nursery.start_soon(_write, self)

    async def respond(self, text: str) -> None:
        """Send a response: directly when the line is free, else behind what is queued.

        Behind a queue, the caller (the reader, for an inline method) waits while more than
        ``PAUSE_READING_BYTES`` are waiting: a client that sends a burst of requests without reading is
        read only as fast as it reads its answers (TCP pushes back), rather than its answers piling up
        to the slow-consumer bound."""
        if self.closing or self.writing or self.sending:
            self.send(text)
            while self.writing and not self.closing and self.queue.backlog() > PAUSE_READING_BYTES:
                if self._send_free is None:
                    self._send_free = trio.Event()
                await self._send_free.wait()
            return
        try:
            await self.transmit(text)
        except TransportClosed:  # the peer is gone: end the connection quietly
            self.closing = True
            if self.nursery is not None:
                self.nursery.cancel_scope.cancel()

    async def transmit(self, text: str | list[str]) -> None:
        """Write one frame (or several, in order: one socket write where the transport can), one writer
        at a time (a flag and an event made on contention only, rather than a Lock per connection: idle
        connections are most of them)."""
        while self.sending:
            if self._send_free is None:
                self._send_free = trio.Event()
            await self._send_free.wait()
        self.sending = self.queue.in_flight = True
        try:
            if isinstance(text, str):
                await self.transport.send_text(text)
            else:
                send_texts = getattr(self.transport, "send_texts", None)
                if send_texts is not None:
                    await send_texts(text)
                else:
                    for one in text:
                        await self.transport.send_text(one)
        finally:
            self.sending = self.queue.in_flight = False
            if self._send_free is not None:
                self._send_free.set()
                self._send_free = None

    def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued have been written."""
        if not self.closing:
            self.closing = True
            self.close_code = code
            self.queue.close_nowait(code, reason)
            self._start_writer()

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued (the writer may be stuck on a full socket)."""
        if self.closing or self.nursery is None:
            return
        self.closing = True
        self.close_code = code
        self.nursery.start_soon(self._close_now, code, reason)

    async def _close_now(self, code: int, reason: str) -> None:
        if self.nursery is not None:
            self.nursery.cancel_scope.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await self.transport.close(code, reason)


class Encoded:
    """A handler's result already encoded as JSON, for results many calls share (the cached health
    summary): the response is that text spliced into the frame, not the payload unstructured again."""

    __slots__ = ("json", "source")

    def __init__(self, source: Any) -> None:
        self.source = source
        self.json = dumps(unstructure(source))

    def response(self, request_id: str) -> str:
        """The same text ``encode_frame(ResponseFrame(id=request_id, ok=True, payload=source))`` gives."""
        return f'{{"type":"res","id":{dumps(request_id)},"ok":true,"payload":{self.json}}}'


_last_encoded: Encoded | None = None


def encoded(value: Any) -> Encoded:
    """``value`` encoded, once for as long as it is the same (immutable) object."""
    global _last_encoded
    last = _last_encoded
    if last is None or last.source is not value:
        last = _last_encoded = Encoded(value)
    return last


async def serve_connections(runtime: Runtime, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Hold ``runtime``'s connection nursery (``runtime.connection_nursery``) until cancelled; every client
    connection of the Runtime runs in it."""
    async with trio.open_nursery() as nursery:
        runtime.connection_nursery = nursery
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            runtime.connection_nursery = None


def start_client(runtime: Runtime, transport: WebSocket) -> None:
    """Start serving an upgraded WebSocket (``websocket.WebSocket``) as one task of ``runtime``'s
    connection nursery, and return at once: the listener's task for the socket is done. The transport's
    ``finish()`` ends the socket when the connection is over (also when this Runtime is stopping)."""
    nursery = runtime.connection_nursery
    if nursery is not None:
        try:
            nursery.start_soon(_serve_lean, runtime, transport, name="connection")
            return
        except RuntimeError:  # the nursery closed between the check and the start
            pass
    # This Runtime is stopping: the client is told so and reconnects to the next one.
    if transport.closer is not None:
        transport.closer.start_soon(_refuse_restart, transport, name="ws-close")
    else:
        transport.finish()


async def _refuse_restart(transport: Any) -> None:
    await transport.close(CLOSE_SERVICE_RESTART, "service restart")
    transport.finish()


async def _serve_lean(runtime: Runtime, transport: WebSocket) -> None:
    try:
        await _serve_to_end(runtime, transport)
    finally:
        transport.finish()


async def serve_client(runtime: Runtime, transport: Transport) -> None:
    """Serve an accepted WebSocket in ``runtime``'s connection nursery; return when the connection is over
    (the ASGI path: hypercorn's task for the socket waits here).

    Cancellation: cancelling the caller (the listener's task for the socket) cancels the connection too,
    and waits (bounded) for it to end.
    """
    nursery = runtime.connection_nursery
    if nursery is None:  # this Runtime is stopping: the client reconnects to the next one
        await transport.close(CLOSE_SERVICE_RESTART, "service restart")
        return
    scope, done = trio.CancelScope(), trio.Event()
    nursery.start_soon(_serve_owned, runtime, transport, scope, done, name="connection")
    try:
        await done.wait()
    finally:
        if not done.is_set():
            scope.cancel(reason="the socket's listener task ended")
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await done.wait()


async def _serve_owned(runtime: Runtime, transport: Transport, scope: trio.CancelScope, done: trio.Event) -> None:
    try:
        with scope:
            await _serve_to_end(runtime, transport)
    finally:
        done.set()


async def _serve_to_end(runtime: Runtime, transport: Transport) -> None:
    """``serve_connection`` as a task of the Runtime's: a bug is logged and closes this connection 1011 (the
    Runtime and the other connections go on); cancelled, the client is told ``service restart`` (1012)."""
    ended = False
    try:
        try:
            await serve_connection(runtime, transport)
        except Exception:
            log.exception("connection from %s failed", transport.peer)
            with trio.move_on_after(1):
                await transport.close(CLOSE_INTERNAL_ERROR, "internal error")
        ended = True
    finally:
        if not ended:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await transport.close(CLOSE_SERVICE_RESTART, "service restart")


async def serve_connection(runtime: Runtime, transport: Transport) -> None:
    """Run one client from socket open to close on ``runtime``. Returns when the connection is over."""
    try:
        connection = await _handshake(runtime, transport)
    except TransportClosed:
        return
    if connection is None:
        return
    async with trio.open_nursery() as nursery:
        connection.nursery = nursery
        try:
            runtime.register(connection)
            log_connect(connection)
            connection._start_writer()  # frames queued before the nursery existed
            await _read(runtime, connection, nursery)
        finally:
            # Still inside the nursery's body, so no broadcast can reach a nursery that is closing.
            runtime.unregister(connection)
            log_disconnect(connection)
            connection.nursery = None
            nursery.cancel_scope.cancel()


async def _handshake(runtime: Runtime, transport: Transport) -> Connection | None:
    """Challenge, first frame, auth, hello-ok. A function of its own so that nothing of the handshake
    (the frames, the hello-ok snapshot) stays referenced for the life of the connection."""
    handshake = ServerHandshake(nonce=str(uuid.uuid4()), now_ms=wall_ms())
    await transport.send_text(encode_frame(handshake.challenge()))
    with trio.move_on_after(runtime.config.gateway.handshake_timeout_ms / 1000) as timeout:
        text = await transport.receive_text()
    if timeout.cancelled_caught:
        log.info("handshake timeout from %s", transport.peer)
        await transport.close(CLOSE_NORMAL, "handshake timeout")
        return None
    outcome = handshake.receive(text)
    if isinstance(outcome, Accept):
        log_connect_frame(outcome, transport.peer)
        outcome = await runtime.authenticate(handshake, outcome, transport)
    if isinstance(outcome, Reject):
        runtime.stats.handshake_rejected(outcome)
        log_rejected(outcome, transport.peer)
        if outcome.response is not None:
            await transport.send_text(encode_frame(outcome.response))
        await transport.close(outcome.close_code, outcome.close_reason)
        return None
    lift = getattr(transport, "lift_preauth_limit", None)
    if lift is not None:  # authenticated: messages up to maxPayload from now on
        lift(runtime.config.gateway.max_payload)
    params = outcome.params
    if params.auth is not None:  # the secret is checked; do not keep it in memory for the connection's life
        params = attrs.evolve(params, auth=None)
    connection = Connection(
        conn_id=str(uuid.uuid4()), transport=transport,
        queue=OutboundQueue(runtime.config.gateway.max_buffered_bytes), params=params,
        session=ServerSession(role=outcome.role, scopes=outcome.scopes, protocol=outcome.protocol),
    )
    if connection.tracked:
        runtime.presence_tracker.track(connection)
    await transport.send_text(hello_frame(runtime, connection, outcome, runtime.hello_templates))
    return connection


async def _read(runtime: Runtime, connection: Connection, nursery: trio.Nursery) -> None:
    while True:
        try:
            text = await connection.transport.receive_text()
        except TransportClosed as exc:
            if connection.close_code is None:
                connection.close_code = exc.code
            return
        if connection.closing or runtime.draining:
            # Told to go, or about to be (a restart's hand-over: this Runtime's services have stopped and
            # the 1012 follows within milliseconds): what it sends now is not acted on. The client sees
            # its request end with the connection, as any request racing a close, and sends it again to
            # the next Runtime.
            continue
        try:
            outcome = connection.session.receive(text)
        except Exception:  # a parser bug: drop the frame, keep the connection (as for non-JSON)
            log.exception("frame from %s could not be read", connection.conn_id)
            outcome = None
        if outcome is None:
            runtime.stats.protocol_errors += 1
            log.debug("ignored non-JSON frame from %s", connection.conn_id)
        elif isinstance(outcome, Reply):
            runtime.stats.protocol_errors += 1
            await connection.respond(encode_frame(outcome.frame))
        elif outcome.spec.name in runtime.inline_methods:
            await _run_call(runtime, connection, outcome)
        elif connection.in_flight >= runtime.config.gateway.max_in_flight_requests:
            await connection.respond(encode_frame(error_response(outcome.request_id, _too_many(runtime))))
        else:
            connection.in_flight += 1
            nursery.start_soon(_run_task, runtime, connection, outcome)


def _too_many(runtime: Runtime) -> ProtocolError:
    """The answer past the in-flight cap: each pending request holds a task and its frames, so a client
    that never waits for its answers (20,000 ``agent.wait``) cannot pin memory. Retryable: the client has
    only to wait for an answer."""
    limit = runtime.config.gateway.max_in_flight_requests
    return ProtocolError(UNAVAILABLE, f"too many requests in flight on this connection (limit {limit})",
                         details={"limit": limit}, retry_after_ms=1000)


def _internal_error(method: str) -> ProtocolError:
    """What a client is told of a handler's bug: stable, with no exception text (which can hold paths,
    ids and internals); the gateway log has the traceback, under the method's name."""
    return ProtocolError(UNAVAILABLE, f"{method} failed: internal error (see the gateway log)")


async def _run_task(runtime: Runtime, connection: Connection, call: Call) -> None:
    """``_run_call`` in a task of its own, holding one of the connection's in-flight slots until it ends."""
    try:
        await _run_call(runtime, connection, call)
    finally:
        connection.in_flight -= 1


CURRENT_REQUEST: ContextVar[str] = ContextVar("moltbot_current_request")


async def ack(connection: Connection, payload: Any) -> None:
    """Send an early ``ok`` response to the request being handled (``agent``'s "accepted" frame); the
    handler's return value then becomes the second response with the same id."""
    frame = ResponseFrame(id=CURRENT_REQUEST.get(), ok=True, payload=payload)
    await connection.respond(encode_frame(frame))


async def _run_call(runtime: Runtime, connection: Connection, call: Call) -> None:
    token = CURRENT_REQUEST.set(call.request_id)
    started = trio.current_time() if log.isEnabledFor(logging.DEBUG) else None
    error: str | None = None
    try:
        handler = runtime.handlers.get(call.spec.name)
        if handler is None:  # in the method table but not served by this build: say so, keep the connection
            raise ProtocolError(UNAVAILABLE, f"method not available: {call.spec.name}")
        result: Any = await handler(runtime, connection, call.params)
        if type(result) is Encoded:
            text = result.response(call.request_id)
        else:
            text = encode_frame(ResponseFrame(id=call.request_id, ok=True, payload=result))
    except ProtocolError as exc:
        error = exc.code
        text = encode_frame(error_response(call.request_id, exc))
    except Exception:  # a handler bug must not take the connection down, nor show the client its text
        runtime.stats.handler_errors += 1
        log.exception("handler %s failed", call.spec.name)
        error = "internal"
        text = encode_frame(error_response(call.request_id, _internal_error(call.spec.name)))
    finally:
        CURRENT_REQUEST.reset(token)
    if started is not None:
        log_call(connection, call, error, len(text), trio.current_time() - started)
    await connection.respond(text)


async def _write(connection: Connection) -> None:
    """Drain the queue to the transport, then end (the next ``send`` starts a new writer). Frames queued
    while a write was in progress go out together in the next write (a fan-out of many events to many
    connections costs a socket write per connection per wake-up, not per frame)."""
    try:
        if getattr(connection.transport, "pending", False):  # the rest of a frame ``try_send`` began
            await connection.transmit([])
        while (item := connection.queue.pop_texts()) is not None:
            if isinstance(item, CloseRequest):
                with trio.move_on_after(1):
                    await connection.transport.close(item.code, item.reason)
                break
            await connection.transmit(item)
        else:
            connection.writing = False
            return
    except TransportClosed:
        pass
    if connection.nursery is not None:
        connection.nursery.cancel_scope.cancel()

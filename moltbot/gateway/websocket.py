"""The control plane's WebSocket on its own socket: wsproto driven directly on the trio stream.

Theory of operation. ``upgrade.py`` answers the upgrade (101) and builds one ``WebSocket`` per client; the
connection's one task (``connection.start_client``, in the Runtime's connection nursery) reads and writes
through it with the ``Transport`` interface: ``receive_text`` feeds what the socket gives to a wsproto
``Connection`` and returns each complete message, ``send_text``/``send_texts`` write frames, ``close``
sends a close frame. Nothing else runs for an idle connection: no reader/writer task pair, no memory
channel, no ASGI message dicts, no per-connection closures (``__slots__`` throughout).
Reads, messages and pongs that need no wait are taken without a checkpoint, 16 at a time
(``YIELD_EVERY``, ``_tick``): a burst of a thousand small calls in one 64 KiB read, or a peer keeping the
socket full of pings or fragments, does not hold the Trio loop from the other connections, and the connection's answers are written as they go (``Connection.respond`` holds
the reader while its queue is over 256 KiB).

What the hypercorn patches (``listener.py``, ``wsclose.py``) did for the ASGI path is done here directly:
- a message over the limit (``MAX_PREAUTH_BYTES`` characters until hello-ok, "preauth payload too large";
  ``gateway.maxPayload`` after) is answered with close 1009; what the peer still sends is discarded;
- a frame wsproto cannot parse gets a close frame with the failure's code (1007 "invalid UTF-8", 1002);
- a ping is answered with a pong (written behind a write in progress, never beside it);
- the close handshake completes: after our close frame the peer's is awaited (``CLOSE_REPLY_SECONDS``),
  then the TCP connection ends as every connection does here, a lingering close: half-close, read and
  discard until the peer's EOF (``LINGER_SECONDS``), then close. That ending runs in the listener's
  closer nursery (``finish``), so a Runtime that stops (1012 to every client) does not wait for peers.

Frames we send are built here (a server frame is unmasked: header + UTF-8), and a text shared by many
connections (a broadcast: ``Shared``) is turned into frame bytes once, not once per client.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from typing import Any

import trio
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from ..protocol import MAX_PREAUTH_BYTES
from .transport import PREAUTH_TOO_LARGE, Peer, TransportClosed

log = logging.getLogger("moltbot.http")

CLOSE_REPLY_SECONDS = 2.0  # after our close frame, how long the peer's close frame is awaited
LINGER_SECONDS = 2.0  # after our half-close, how long what the peer still sends is read and discarded
CLOSE_SECONDS = 1.0  # how long a shielded close step (a close frame, the half-close) may take
RECEIVE_BYTES = 65536
YIELD_EVERY = 16  # reads, messages and pongs taken without a wait before a checkpoint (``_tick``)
ABNORMAL = int(CloseReason.ABNORMAL_CLOSURE)  # 1006: the TCP connection ended without a close frame
TOO_BIG = int(CloseReason.MESSAGE_TOO_BIG)
_SEND_FAILURES = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_NO_EVENTS: deque = deque(maxlen=0)


class Shared(str):
    """A frame's text sent to many connections (a broadcast): its frame bytes are built once."""

    wire: bytes | None = None


def _header(size: int) -> bytes:
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


def wire(text: str) -> bytes:
    """One unfragmented text frame as the server sends it (no mask)."""
    if type(text) is Shared:
        if text.wire is None:
            payload = text.encode()
            text.wire = _header(len(payload)) + payload
        return text.wire
    payload = text.encode()
    return _header(len(payload)) + payload


class WebSocket:
    """One client's WebSocket over its trio stream (the ``Transport`` interface of ``transport.py``)."""

    __slots__ = (
        "_closed",
        "_limit",
        "_parts",
        "_send_free",
        "_sending",
        "_size",
        "_streak",
        "_too_large_reason",
        "_unsent",
        "closer",
        "facts",
        "on_end",
        "stream",
        "tailscale_identity",
        "ws",
    )

    def __init__(
        self,
        stream: trio.SocketStream,
        facts: Peer,
        *,
        trailing: bytes = b"",
        closer: trio.Nursery | None = None,
    ) -> None:
        self.stream = stream
        self.facts = facts
        self.ws = WsConnection(ConnectionType.SERVER, trailing_data=trailing)
        # wsproto queues events in a deque of its own only for ``receive_data(None)``, which is never called
        # here: an empty shared one instead of a 0.7 KiB block per idle connection outside pymalloc.
        self.ws._events = _NO_EVENTS
        self.closer = closer  # where the lingering close runs (the listener's); None: in the caller
        self.on_end: Any = None  # called once the socket is closed (the listener's admission count)
        self.tailscale_identity: Any = None  # set by device admission when Tailscale identified the client
        self._limit = MAX_PREAUTH_BYTES
        self._too_large_reason = PREAUTH_TOO_LARGE
        self._parts: list[str | bytes] | None = None  # a message arriving in pieces
        self._size = 0
        self._streak = 0  # messages returned from one socket read without a checkpoint
        self._sending = False
        self._send_free: trio.Event | None = None
        self._unsent = b""  # what a cut-short write left unwritten (the rest of a frame: sent first)
        self._closed = False  # our close frame is sent (or the peer's answered): nothing more is written

    # What the rest of the gateway reads of a transport (``Transport``): from the admission value.
    @property
    def peer(self) -> str:
        return self.facts.address

    @property
    def local(self) -> bool:
        return self.facts.local

    @property
    def client(self) -> str:
        return self.facts.client

    @property
    def direct(self) -> bool:
        return self.facts.direct

    @property
    def origin(self) -> str | None:
        return self.facts.origin

    @property
    def own_origin(self) -> bool:
        return self.facts.own_origin

    @property
    def request_host(self) -> str | None:
        return self.facts.host

    @property
    def local_host(self) -> str | None:
        return self.facts.local_host

    @property
    def forwarded_proto(self) -> str | None:
        return self.facts.forwarded_proto

    @property
    def tailscale(self) -> Any:
        return self.facts.tailscale

    def lift_preauth_limit(self, max_payload: int) -> None:
        """Authenticated: messages up to ``max_payload`` are read from now on (``gateway.maxPayload``)."""
        self._limit, self._too_large_reason = max_payload, ""

    # --- receiving --------------------------------------------------------------------------------

    async def receive_text(self) -> str | bytes:
        """The next whole message (text as ``str``, binary as ``bytes``); ``TransportClosed`` at the end."""
        ws = self.ws
        while True:
            for event in ws.events():
                if isinstance(event, Message):
                    if self._closed:
                        continue  # after our close frame (e.g. the tail of a message refused 1009)
                    try:
                        message = self._take(event)
                    except _TooLarge as exc:
                        await self._send_close(TOO_BIG, exc.reason)
                        self._closed = True
                        raise TransportClosed(TOO_BIG, exc.reason) from None
                    if message is not None:
                        await self._tick()
                        return message
                elif isinstance(event, Ping):
                    await self._send(ws.send(event.response()))
                    await self._tick()
                elif isinstance(event, CloseConnection):
                    await self._closed_by_peer(event)
            data = await self._receive()
            if not data:
                self._closed = True
                raise TransportClosed(ABNORMAL, "")
            ws.receive_data(data)

    async def _receive(self) -> bytes:
        """What the socket has (b"" at its end): read at once when it is there, else after waiting for it.

        The socket's own ``os.read`` rather than ``SocketStream.receive_some``: that one passes through
        the scheduler twice per read even when the data is waiting (a checkpoint before, another after),
        about a quarter of the gateway's CPU per ``health`` call. Fairness is kept by ``_tick`` and by
        the wait when nothing is there; a closed socket's descriptor is -1 (EBADF), never a reused one."""
        sock = self.stream.socket
        while True:
            try:
                data = os.read(sock.fileno(), RECEIVE_BYTES)
            except BlockingIOError:
                self._streak = 0
                try:
                    await trio.lowlevel.wait_readable(sock)
                except (trio.ClosedResourceError, trio.BusyResourceError, OSError):
                    return b""
                continue
            except OSError:  # reset, or closed under us
                return b""
            await self._tick()
            return data

    async def _tick(self) -> None:
        """One more step (a read, a message, a pong) taken without waiting: every ``YIELD_EVERY`` of them,
        a checkpoint, so a peer that keeps the socket full (a flood of calls, pings or fragments) cannot
        hold the Trio loop from the other connections."""
        self._streak += 1
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            await trio.lowlevel.checkpoint()

    def _take(self, event: Message) -> str | bytes | None:
        """Add one piece of a message; the message once it is whole (None before). Over the limit: close
        1009 (with the reason that applies before hello-ok) and end the connection."""
        data = event.data
        size = self._size + len(data)
        if size > self._limit:
            self._parts, self._size = None, 0
            reason = self._too_large_reason or None
            raise _TooLarge(reason)
        if event.message_finished and self._parts is None:
            return data if isinstance(event, TextMessage) else bytes(data)
        if self._parts is None:
            self._parts = []
        self._parts.append(data if isinstance(event, TextMessage) else bytes(data))
        self._size = size
        if not event.message_finished:
            return None
        parts, self._parts, self._size = self._parts, None, 0
        return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)  # type: ignore[arg-type]

    async def _closed_by_peer(self, event: CloseConnection) -> None:
        """The peer's close frame (answered, unless it answers ours), or a frame wsproto could not parse
        (wsproto reports it as a close in state OPEN: the close frame it calls for is sent)."""
        code, reason = int(event.code), event.reason or ""
        if self.ws.state is ConnectionState.OPEN:  # a parse failure, not a close frame
            if code == CloseReason.INVALID_FRAME_PAYLOAD_DATA:
                reason = "invalid UTF-8"
            await self._send_close(code, reason)
            self._closed = True
            raise TransportClosed(code, reason)
        if self.ws.state is ConnectionState.REMOTE_CLOSING:
            await self._send_close(code, reason, reply=True)
        self._closed = True
        raise TransportClosed(code, reason)

    # --- sending ----------------------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        """Write ``data``; one write at a time (a flag, and an event made only on contention).

        A write cut short (cancelled: the Runtime stopping, a slow consumer closed) may leave part of a
        frame on the wire; what is left of it is kept (``_unsent``) and goes out first with the next
        write, the close frame, so the peer never sees a torn frame."""
        while self._sending:
            if self._send_free is None:
                self._send_free = trio.Event()
            await self._send_free.wait()
        self._sending = True
        try:
            self._unsent = self._unsent + data if self._unsent else data
            await self._flush()
        finally:
            self._sending = False
            if self._send_free is not None:
                self._send_free.set()
                self._send_free = None

    async def _flush(self) -> None:
        """Write what is unsent: at once as far as the socket takes it (``os.write``, no scheduler pass,
        as in ``_receive``), waiting for room only when it is full."""
        view = memoryview(self._unsent)
        sock = self.stream.socket
        try:
            while view:
                try:
                    view = view[os.write(sock.fileno(), view) :]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
        except (*_SEND_FAILURES, trio.BusyResourceError) as exc:
            view = memoryview(b"")
            self._closed = True
            raise TransportClosed(ABNORMAL) from exc
        finally:
            self._unsent = bytes(view) if view else b""

    def try_send(self, text: str) -> bool:
        """Write one frame now, without waiting, when no write is in progress or left unfinished: True
        when the socket took it (all of it, or a part with the rest kept for the next write: ``pending``),
        False when nothing was written (the caller queues the frame). A broadcast reaches an idle client
        this way with one system call and no task (a writer task per client per event was most of a
        fan-out's cost)."""
        if self._closed or self._sending or self._unsent:
            return False
        data = wire(text)
        try:
            written = os.write(self.stream.socket.fileno(), data)
        except OSError:  # full (BlockingIOError), or gone: the queued frame's writer finds out which
            return False
        if written < len(data):
            self._unsent = data[written:]
        return True

    @property
    def pending(self) -> bool:
        """Part of a frame ``try_send`` wrote is still to be written (the next write sends it first)."""
        return bool(self._unsent)

    async def send_text(self, text: str) -> None:
        if self._closed:
            raise TransportClosed()
        await self._send(wire(text))

    async def send_texts(self, texts: list[str]) -> None:
        """Several messages in one socket write."""
        if self._closed:
            raise TransportClosed()
        await self._send(b"".join([wire(text) for text in texts]))

    async def _send_close(self, code: int, reason: str, *, reply: bool = False) -> None:
        try:
            data = self.ws.send(CloseConnection(code=code, reason=None if reply else (reason or None)))
        except LocalProtocolError:
            return  # a close frame already went out
        with trio.move_on_after(CLOSE_SECONDS):
            try:
                await self._send(data)
            except TransportClosed:
                pass

    async def close(self, code: int, reason: str = "") -> None:
        """Send our close frame (once); the rest of the close handshake is ``finish``'s."""
        if self._closed:
            return
        self._closed = True
        await self._send_close(code, reason)

    # --- the end ----------------------------------------------------------------------------------

    def finish(self) -> None:
        """The connection is over for its task: end the socket in the closer nursery (await the peer's
        close frame if ours awaits it, then the lingering close), or at once when there is none."""
        if self.closer is not None:
            try:
                self.closer.start_soon(self.aclose, name="ws-close")
                return
            except RuntimeError:  # the listener is stopping: no lingering
                pass
        self.finish_now()

    def finish_now(self) -> None:
        """Close the socket at once (no close handshake, no linger)."""
        self.stream.socket.close()
        self._ended()

    def _ended(self) -> None:
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end()

    async def aclose(self) -> None:
        """The close handshake's end and the lingering close, each bounded; the socket is closed after."""
        try:
            with trio.move_on_after(CLOSE_REPLY_SECONDS):
                if self._unsent:  # our close frame (and what a cut-short write left) is not out yet
                    try:
                        await self._send(b"")
                    except TransportClosed:
                        return
                await self._await_close_reply()
            with trio.move_on_after(CLOSE_SECONDS):
                try:
                    await self.stream.send_eof()
                except (*_SEND_FAILURES, trio.BusyResourceError, AttributeError):
                    pass
            with trio.move_on_after(LINGER_SECONDS):
                await self._discard_until_eof()
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self.stream)
            self._ended()

    async def _await_close_reply(self) -> None:
        ws = self.ws
        while ws.state is ConnectionState.LOCAL_CLOSING:
            try:
                data = await self.stream.receive_some(RECEIVE_BYTES)
            except _SEND_FAILURES:
                return
            if not data:
                return
            ws.receive_data(bytes(data))
            for event in ws.events():
                if isinstance(event, CloseConnection):
                    return

    async def _discard_until_eof(self) -> None:
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_BYTES)
            except (*_SEND_FAILURES, trio.BusyResourceError):
                return
            if not data:
                return


class _TooLarge(TransportClosed):
    def __init__(self, reason: str | None) -> None:
        super().__init__(TOO_BIG, reason or "")

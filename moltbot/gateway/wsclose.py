"""How a WebSocket connection ends under hypercorn: ``ClosingWSStream``, the ``WSStream`` of our servers.

RFC 6455 §7.1.1 and §5.5.1: the side that sends a close frame waits for the peer's close frame, and only
then is the TCP connection closed (the server first). hypercorn closed it as soon as the app returned, a
fraction of a millisecond after the app's close frame, so a client still parsing what came before saw the
TCP connection end first: Node's built-in WebSocket (undici) then reports 1006 and drops the messages it
had not dispatched (a refused ``connect``'s error ``res`` among them), and OpenClaw's client (``ws``) saw
the close before it had handled that ``res``. Here the close handshake completes: after our close frame
the connection waits for the peer's close frame, at most ``CLOSE_REPLY_SECONDS``, then ends as every
close does (``httpserver.ConnectionServer``: half-close, then a linger of at most ``LINGER_SECONDS``). A
peer that never answers holds the socket for at most both bounds.

hypercorn makes the stream itself (by class name); ``httpserver.ClosingH11Protocol`` turns the streams of
our servers' connections into this subclass as they are made, and this stream turns its wsproto
connection into a ``FailingConnection`` as ``_accept`` makes it. hypercorn's own classes are unchanged.
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import Event, StreamClosed
from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

__all__ = ["ClosingWSStream", "FailingConnection"]

CLOSE_REPLY_SECONDS = 2.0  # after our close frame, how long the peer's close frame is awaited
_TOO_BIG = int(CloseReason.MESSAGE_TOO_BIG)  # ASGI close codes are plain ints


class FailingConnection(Connection):
    """Answer a WebSocket frame wsproto cannot accept with a close frame, as RFC 6455 §7.1.7 asks.

    wsproto reports a frame it fails to parse (invalid UTF-8 in a text frame: 1007; a protocol error:
    1002) as a ``CloseConnection`` event but leaves its state ``OPEN``; hypercorn answers a
    ``CloseConnection`` only in state ``REMOTE_CLOSING``, so it dropped the TCP connection without any
    close frame (the peer saw 1006). This subclass moves such an event to ``REMOTE_CLOSING``, so
    hypercorn's own code sends the close frame (with the failure's code) and then closes. A received close
    frame already arrives in that state, so only parse failures are affected. The reason for 1007 is
    "invalid UTF-8" (not the decoder's message).
    """

    def events(self) -> Any:
        for event in super().events():
            if isinstance(event, CloseConnection) and self.state is ConnectionState.OPEN:
                self._state = ConnectionState.REMOTE_CLOSING
                if event.code == CloseReason.INVALID_FRAME_PAYLOAD_DATA:
                    event = CloseConnection(code=event.code, reason="invalid UTF-8")
            yield event


class ClosingWSStream(ws_stream.WSStream):
    """hypercorn's WebSocket stream that completes the close handshake and reads the peer's events to the
    end after our close frame."""

    _ended: trio.Event | None = None  # while the app's end waits for the peer's close reply
    _peer_close: int | None = None  # the code of the peer's close frame, once received
    too_large_reason: str | None = None  # the reason of a 1009 (transport.py sets it before hello-ok)

    @property
    def connection(self) -> Any:
        try:
            return self.__dict__["connection"]
        except KeyError:  # until the upgrade was accepted
            raise AttributeError("connection") from None

    @connection.setter
    def connection(self, connection: Any) -> None:
        if type(connection) is Connection:
            connection.__class__ = FailingConnection
        self.__dict__["connection"] = connection

    def _awaits_close_reply(self) -> bool:
        """Whether we sent a close frame and have not yet seen the peer's (nor the TCP end)."""
        connection = self.__dict__.get("connection")
        return not self.closed and connection is not None and connection.state is ConnectionState.LOCAL_CLOSING

    async def app_send(self, message: Any) -> None:
        """Wait for the peer's close frame before hypercorn ends the stream of an app that closed.

        hypercorn ends the stream (and so the TCP connection) when the app returns (``app_send(None)``);
        while our close frame awaits its answer, that waits, bounded by ``CLOSE_REPLY_SECONDS``, until the
        stream ends by the peer: its close frame (hypercorn's own event loop then ends the stream) or the
        TCP connection ending (the reader's end does). ``handle`` wakes the wait on every end of the stream.
        """
        if message is None and self._awaits_close_reply():
            ended = self._ended = trio.Event()
            with trio.move_on_after(CLOSE_REPLY_SECONDS):
                await ended.wait()
        await super().app_send(message)

    async def handle(self, event: Event) -> None:
        if isinstance(event, StreamClosed) and self._ended is not None:
            self._ended.set()  # before the app is told: that may wait on the app's queue
        if isinstance(event, StreamClosed) and self._peer_close is not None and self.app_put is not None:
            self.closed = True  # as hypercorn's own branch, but the app is told the peer's code, not 1006
            await self.app_put({"type": "websocket.disconnect", "code": self._peer_close})
            return
        await super().handle(event)

    async def _handle_events(self) -> None:
        """hypercorn 0.18's, but reading the peer's events to the end after our close frame, and ending
        the app after a 1009.

        hypercorn answers a message over ``websocket_max_message_size`` with close 1009 and leaves its
        event loop (``break``): every event wsproto already parsed from that read is dropped. The rest of
        the big message keeps arriving, each read failing the same way, and when the peer's close reply
        arrives in the same read as the message's tail, it is dropped with it: both sides then wait for
        the other for good (seen as a flaky test, about 1 run in 30). Here:
        - on a message too large the buffer is emptied, the close is sent (with ``too_large_reason``:
          "preauth payload too large" before hello-ok), the app is told its connection ended (it would
          otherwise wait for its next message for good when the peer never answers: it ends, and
          ``app_send`` waits for the peer's answer, bounded), and the loop goes on;
        - once our close frame is sent (1009, or the app's close), messages are discarded: nobody reads
          them, and a peer sending many could fill the app's queue and stall the reader before it reads
          the close reply.
        """
        assert self.app_put is not None  # events come after the upgrade, i.e. once the app runs
        for event in self.connection.events():
            if isinstance(event, Message):
                if self.connection.state is ConnectionState.LOCAL_CLOSING:
                    continue  # after our close frame (e.g. the tail of a message refused 1009)
                try:
                    self.buffer.extend(event)
                except ws_stream.FrameTooLargeError:
                    self.buffer.clear()
                    await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG,
                                                                   reason=self.too_large_reason or None))
                    await self.app_put({"type": "websocket.disconnect", "code": _TOO_BIG})
                    continue
                if event.message_finished:
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                self._peer_close = int(event.code)  # the disconnect the app gets carries it (``handle``)
                if self.connection.state == ConnectionState.REMOTE_CLOSING:
                    await self._send_wsproto_event(event.response())
                await self.send(StreamClosed(stream_id=self.stream_id))

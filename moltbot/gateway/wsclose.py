"""How a WebSocket connection ends under hypercorn: patches to its ``WSStream`` (applied by ``listener``).

Each patch is applied once, at import of ``listener`` (after its fingerprint check of the code patched).
"""

from __future__ import annotations


def patch_parse_failures() -> None:
    """Answer a WebSocket frame wsproto cannot accept with a close frame, as RFC 6455 §7.1.7 asks.

    wsproto reports a frame it fails to parse (invalid UTF-8 in a text frame: 1007; a protocol error:
    1002) as a ``CloseConnection`` event but leaves its state ``OPEN``; hypercorn answers a
    ``CloseConnection`` only in state ``REMOTE_CLOSING``, so it dropped the TCP connection without any
    close frame (the peer saw 1006). hypercorn's server connections are made through the
    ``Connection`` name of ``hypercorn.protocol.ws_stream``; this subclass moves such an event to
    ``REMOTE_CLOSING``, so hypercorn's own code sends the close frame (with the failure's code) and then
    closes. A received close frame already arrives in that state, so only parse failures are affected.
    The reason for 1007 is "invalid UTF-8" (not the decoder's message).
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


def patch_too_large() -> None:
    """After a message over ``websocket_max_message_size``, keep reading the peer's events, so its close
    reply is seen and the connection ends.

    hypercorn answers the oversized message with close 1009 and leaves its event loop (``break``): every
    event wsproto already parsed from that read is dropped. The rest of the big message keeps arriving,
    each read failing the same way, and when the peer's close reply arrives in the same read as the
    message's tail, it is dropped with it: both sides then wait for the other for good (seen as a flaky
    test, about 1 run in 30). This ``_handle_events`` is hypercorn 0.18's but for that branch: the buffer
    is emptied, the message's remaining data is discarded, the close is sent once (with the reason the
    transport set: "preauth payload too large" before hello-ok), and the loop goes on.
    """
    from hypercorn.protocol import ws_stream
    from hypercorn.protocol.events import StreamClosed
    from wsproto.connection import ConnectionState
    from wsproto.events import CloseConnection, Message, Ping
    from wsproto.frame_protocol import CloseReason

    if getattr(ws_stream.WSStream._handle_events, "_moltbot_patched", False):
        return

    async def _handle_events(self):  # type: ignore[no-untyped-def]
        for event in self.connection.events():
            if isinstance(event, Message):
                if self.__dict__.get("_moltbot_too_large"):
                    continue  # the tail of a message already refused
                try:
                    self.buffer.extend(event)
                except ws_stream.FrameTooLargeError:
                    self._moltbot_too_large = True
                    self.buffer.clear()
                    reason = self.__dict__.get("_moltbot_too_large_reason") or None  # transport.py sets it
                    await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG,
                                                                   reason=reason))
                    continue
                if event.message_finished:
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if self.connection.state == ConnectionState.REMOTE_CLOSING:
                    await self._send_wsproto_event(event.response())
                await self.send(StreamClosed(stream_id=self.stream_id))

    _handle_events._moltbot_patched = True  # type: ignore[attr-defined]
    ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]

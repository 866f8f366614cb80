"""A WebSocket client with its TCP stream in hand: it can send frames no library would, and vanish.

trio-websocket (used by every other check) only sends well-formed frames. The hostile-input checks and
the fuzz tests also need a text frame with invalid UTF-8, half a frame, a TCP connection that never
upgrades, and a socket that disappears with a reset. ``RawWebSocket`` does the opening handshake with
wsproto, then writes frames it builds itself (RFC 6455 §5.2, masked as a client must) and parses what the
server sends with the same wsproto connection.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsprotoLocalError
from wsproto.utilities import RemoteProtocolError as WsprotoRemoteError

__all__ = ["OPCODE_BINARY", "OPCODE_TEXT", "RawWebSocket", "build_frame", "open_tcp"]

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
ABNORMAL_CLOSURE = 1006  # what a client reports when the TCP connection ends without a close frame


def build_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One client WebSocket frame (masked) with any payload, valid or not."""
    mask = os.urandom(4) if mask is None else mask
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked


async def open_tcp(url: str) -> trio.SocketStream:
    """A plain TCP connection to the host and port of a ``ws://`` URL."""
    parts = urlsplit(url)
    return await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)


def abort(stream: trio.SocketStream) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer sees the connection vanish, no FIN, no close frame."""
    try:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    stream.socket.close()


class RawWebSocket:
    """An upgraded connection where the caller writes raw frames. Use ``await RawWebSocket.connect(url)``."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self._ws = ws
        self._events: list[Event] = []
        self._partial: list[Any] = []  # the fragments of one message: all str or all bytes
        self.close_code: int | None = None
        self.close_reason = ""

    @classmethod
    async def connect(cls, url: str) -> RawWebSocket:
        """Open TCP and complete the WebSocket upgrade (raises ``ConnectionError`` if refused)."""
        parts = urlsplit(url)
        stream = await open_tcp(url)
        ws = WSConnection(ConnectionType.CLIENT)
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        await stream.send_all(ws.send(Request(host=host, target=parts.path or "/")))
        raw = cls(stream, ws)
        while True:
            events, eof = await raw._receive_events()
            if eof and not events:
                await stream.aclose()
                raise ConnectionError("the server closed the connection during the upgrade")
            for index, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    raw._events.extend(events[index + 1 :])  # the challenge may share the TCP segment
                    return raw
                if isinstance(event, RejectConnection):
                    await stream.aclose()
                    raise ConnectionError(f"upgrade rejected: HTTP {event.status_code}")

    async def _receive_events(self) -> tuple[list[Event], bool]:
        """What the next read brings, and whether it was the end of the stream."""
        data = await self.stream.receive_some(65536)
        try:
            self._ws.receive_data(data or None)
            return list(self._ws.events()), not data
        except WsprotoRemoteError as exc:
            raise ConnectionError(f"the server broke the WebSocket protocol: {exc}") from None

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        await self.stream.send_all(build_frame(opcode, payload, fin=fin))

    async def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the TCP stream (half a frame, garbage, …)."""
        await self.stream.send_all(data)

    async def receive(self) -> str | bytes | None:
        """The next message; ``None`` once the connection has closed (``close_code`` tells how)."""
        while not self._events:
            if self.close_code is not None:
                return None
            try:
                events, eof = await self._receive_events()
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError, OSError):
                events, eof = [], True
            if eof and self.close_code is None and not any(isinstance(e, CloseConnection) for e in events):
                self.close_code = ABNORMAL_CLOSURE  # the stream ended without a close frame
            for event in events:
                if isinstance(event, CloseConnection):
                    self.close_code, self.close_reason = event.code, event.reason or ""
                    try:
                        await self.stream.send_all(self._ws.send(event.response()))
                    except (trio.BrokenResourceError, trio.ClosedResourceError, WsprotoLocalError, OSError):
                        pass
                else:
                    self._events.append(event)
        event = self._events.pop(0)
        if isinstance(event, (TextMessage, BytesMessage)):
            self._partial.append(event.data)
            if event.message_finished:
                parts, self._partial = self._partial, []
                return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
        return await self.receive()

    async def wait_closed(self) -> tuple[int | None, list[str | bytes]]:
        """Read until the server closes; return the close code and the messages received before it."""
        messages: list[str | bytes] = []
        while (message := await self.receive()) is not None:
            messages.append(message)
        return self.close_code, messages

    def abort(self) -> None:
        abort(self.stream)

    async def aclose(self) -> None:
        await self.stream.aclose()

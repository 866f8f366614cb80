"""A minimal WebSocket client for the benchmarks that hold thousands of connections (not for tests).

trio-websocket costs a reader task, a memory channel and a wsproto connection per client: at 10,000
connections the client, not the server, would be what is measured. This one is a raw trio socket: the
upgrade request written by hand, frames parsed from a bytearray, every frame it sends masked with the
zero key (legal; the server cannot tell), one task per connection only while it is being drained.

    stream, reader = await open_raw(host, port)     # upgraded, nothing read yet
    await handshake(stream, reader, token)          # connect.challenge → connect → hello-ok
    await send_text(stream, '{"type":"req",...}')
    frame = await reader.next_json()
"""

from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

import trio

MAX_FRAME = 64 * 1024 * 1024


class ClosedByServer(Exception):
    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code, self.reason = code, reason


def frame(text: str | bytes, opcode: int = 1) -> bytes:
    """One client frame (FIN, masked with the zero key so the payload goes out as is)."""
    payload = text.encode() if isinstance(text, str) else text
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


class Reader:
    __slots__ = ("buffer", "stream")

    def __init__(self, stream: trio.SocketStream, buffer: bytes = b"") -> None:
        self.stream = stream
        self.buffer = bytearray(buffer)

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise ClosedByServer(None, "EOF")
        self.buffer += data

    async def next_message(self) -> bytes:
        """The next text or binary message (control frames: close raises, ping/pong skipped)."""
        while True:
            buffer = self.buffer
            if len(buffer) < 2:
                await self._fill()
                continue
            first, second = buffer[0], buffer[1]
            size, offset = second & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    await self._fill()
                    continue
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    await self._fill()
                    continue
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if size > MAX_FRAME:
                raise ClosedByServer(None, f"frame of {size} bytes")
            if len(buffer) < offset + size:
                await self._fill()
                continue
            payload = bytes(buffer[offset : offset + size])
            del buffer[: offset + size]
            opcode = first & 0x0F
            if opcode == 8:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                raise ClosedByServer(code, payload[2:].decode("utf-8", "replace"))
            if opcode in (1, 2, 0):  # the gateway does not fragment; a continuation is treated as a message
                return payload

    async def next_json(self) -> dict[str, Any]:
        return json.loads(await self.next_message())

    async def drain(self) -> int:
        """Read and drop frames until the server closes; return how many bytes were read."""
        total = len(self.buffer)
        self.buffer.clear()
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                return total
            total += len(data)


async def open_raw(host: str, port: int, path: str = "/") -> tuple[trio.SocketStream, Reader]:
    stream = await trio.open_tcp_stream(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    await stream.send_all(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = bytearray()
    while b"\r\n\r\n" not in head:
        data = await stream.receive_some(65536)
        if not data:
            raise ClosedByServer(None, "EOF during the upgrade")
        head += data
        if len(head) > 65536:
            raise ClosedByServer(None, "upgrade answer too long")
    end = head.index(b"\r\n\r\n") + 4
    if not head.startswith(b"HTTP/1.1 101"):
        raise ClosedByServer(None, head[:end].decode("latin-1").splitlines()[0])
    return stream, Reader(stream, bytes(head[end:]))


def connect_text(token: str, mode: str = "test", request_id: str = "c1", protocol: int = 3) -> str:
    params = {
        "minProtocol": protocol,
        "maxProtocol": protocol,
        "client": {"id": "test", "version": "1", "platform": "linux", "mode": mode},
        "auth": {"token": token},
    }
    return json.dumps(
        {"type": "req", "id": request_id, "method": "connect", "params": params}, separators=(",", ":")
    )


async def wait_response(reader: Reader, request_id: str, limit: int = 100_000) -> dict[str, Any]:
    for _ in range(limit):
        message = await reader.next_message()
        if b'"res"' not in message:
            continue
        response = json.loads(message)
        if response.get("type") == "res" and response.get("id") == request_id:
            return response
    raise ClosedByServer(None, f"no response to {request_id} in {limit} frames")


async def handshake(
    stream: trio.SocketStream, reader: Reader, token: str, mode: str = "test"
) -> dict[str, Any]:
    for _ in range(100):
        message = await reader.next_json()
        if message.get("event") == "connect.challenge":
            break
    else:
        raise ClosedByServer(None, "no connect.challenge")
    await stream.send_all(frame(connect_text(token, mode)))
    response = await wait_response(reader, "c1")
    if not response.get("ok"):
        raise ClosedByServer(None, f"connect refused: {response.get('error')}")
    return response


async def open_client(
    host: str, port: int, token: str, mode: str = "test"
) -> tuple[trio.SocketStream, Reader]:
    stream, reader = await open_raw(host, port)
    try:
        await handshake(stream, reader, token, mode)
    except BaseException:
        stream.socket.close()
        raise
    return stream, reader


async def send_text(stream: trio.SocketStream, text: str) -> None:
    await stream.send_all(frame(text))


async def close(stream: trio.SocketStream) -> None:
    """Send a close frame (1000) and drop the socket at once (the benchmark does not wait for the reply)."""
    try:
        with trio.move_on_after(1):
            await stream.send_all(frame(struct.pack("!H", 1000), opcode=8))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    stream.socket.close()

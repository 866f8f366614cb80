"""What an idle authenticated connection costs the gateway in memory, with a generous bound (issue 17).

Measured with tracemalloc over real sockets; the clients are bare trio sockets speaking just enough
WebSocket (a few hundred bytes each), so nearly everything counted is the gateway's. The lean path holds
~10–12 KiB per idle connection (``bench/profile_leanws.py memory`` lists where it goes); the bound catches
a 10× regression (a task pair, a memory channel or a deflate context per connection again). It is not a
performance target: those are in bench/.
"""

from __future__ import annotations

import gc
import struct
import tracemalloc

import trio
import trio.testing

from tests.conftest import connect_frame

CONNECTIONS = 40
BOUND_KIB = 64.0
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def next_frame(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    """One unmasked server frame's payload (the gateway sends whole frames, never fragments)."""
    while True:
        if len(buffer) >= 2:
            size, offset = buffer[1] & 0x7F, 2
            if size == 126 and len(buffer) >= 4:
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127 and len(buffer) >= 10:
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if size < 126 or offset > 2:
                if len(buffer) >= offset + size:
                    payload = bytes(buffer[offset : offset + size])
                    del buffer[: offset + size]
                    return payload
        data = await stream.receive_some(65536)
        assert data, "the gateway closed the connection"
        buffer += data


async def open_bare(port: int) -> trio.SocketStream:
    """Upgrade, read the challenge, send ``connect`` (masked with the zero key), read up to hello-ok."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(UPGRADE)
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive_some(65536)
    assert buffer.startswith(b"HTTP/1.1 101")
    del buffer[: buffer.index(b"\r\n\r\n") + 4]
    assert b"connect.challenge" in await next_frame(stream, buffer)
    payload = connect_frame().encode()
    await stream.send_all(struct.pack("!BBH", 0x81, 0x80 | 126, len(payload)) + b"\0\0\0\0" + payload)
    while b'"hello-ok"' not in (frame := await next_frame(stream, buffer)):
        assert b'"ok":false' not in frame, frame
    return stream


async def settled(gateway, count: int) -> None:
    with trio.fail_after(5):
        while len(gateway.runtime.broadcaster.connections) != count or any(  # noqa: ASYNC110 - polled
            c.writing or len(c.queue) for c in gateway.runtime.broadcaster.connections
        ):
            await trio.sleep(0.01)
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)
    gc.collect()


async def test_an_idle_authenticated_connection_costs_the_gateway_little_memory(gateway):
    streams = [await open_bare(gateway.port)]  # first-use caches (converters, the first health) warm up
    await settled(gateway, 1)
    tracemalloc.start(1)
    try:
        before = tracemalloc.get_traced_memory()[0]
        streams += [await open_bare(gateway.port) for _ in range(CONNECTIONS)]
        await settled(gateway, CONNECTIONS + 1)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        for stream in streams:
            stream.socket.close()
    per_connection = (after - before) / CONNECTIONS / 1024
    assert 0 < per_connection < BOUND_KIB, f"{per_connection:.1f} KiB per idle connection"

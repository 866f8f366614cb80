"""The lean WebSocket's reader yields to the other connections while its socket stays full (hostile input).

Its reads and writes skip the scheduler when they need not wait (``os.read``/``os.write``), so a peer that
keeps the socket full (a flood of pings, here) must not hold the Trio loop: every ``YIELD_EVERY`` steps the
reader checkpoints. Over a real socket pair, with the pings already waiting when the reader starts.
"""

from __future__ import annotations

import socket
import struct

import trio
import trio.testing

from moltbot.gateway.transport import Peer
from moltbot.gateway.websocket import YIELD_EVERY, WebSocket

PINGS = 4000


def _masked_ping() -> bytes:
    return struct.pack("!BB", 0x89, 0x80) + b"\x00\x00\x00\x00"  # FIN + ping, masked, empty, zero mask


async def test_a_ping_flood_does_not_hold_the_loop():
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    theirs.sendall(_masked_ping() * PINGS)  # 24 kB: fits in the pair's buffer
    ws = WebSocket(
        trio.SocketStream(trio.socket.from_stdlib_socket(ours)),
        Peer(address="127.0.0.1", client="127.0.0.1", local=True, direct=True),
    )
    ran = 0

    async def bystander() -> None:
        nonlocal ran
        while True:
            await trio.lowlevel.checkpoint()
            ran += 1

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bystander)
            nursery.start_soon(ws.receive_text)  # answers every ping, then waits for more
            received = bytearray()
            while _drain(theirs, received) < 2 * PINGS:  # the pongs, 2 bytes each
                await trio.lowlevel.wait_readable(theirs)
            nursery.cancel_scope.cancel()
    theirs.close()
    ws.finish_now()
    assert ran >= PINGS // YIELD_EVERY // 2, (
        f"the bystander ran {ran} times while {PINGS} pings were answered"
    )


def _drain(sock: socket.socket, into: bytearray) -> int:
    """What the peer has received so far (its non-blocking socket read empty); how many bytes in all."""
    try:
        while chunk := sock.recv(65536):
            into.extend(chunk)
    except BlockingIOError:
        pass
    return len(into)

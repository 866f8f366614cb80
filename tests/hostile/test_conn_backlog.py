"""Slow consumers are judged by backlog, not by one frame (issue 15, requirement 9).

One event larger than ``gateway.maxBufferedBytes`` reaches every client that reads (today it closed them
all 1008); a client that stops reading is still closed 1008 "slow consumer" once what waits behind the
frame in front passes the limit, and the others never notice.
"""

from __future__ import annotations

import json

import pytest
import trio

LIMIT = 64 * 1024
BIG = 1_500_000


@pytest.fixture
def config(make_config):
    return make_config(max_buffered_bytes=LIMIT)


async def frames_until(ws, event: str) -> list[dict]:
    frames = []
    while True:
        frame = json.loads(await ws.ws.get_message())
        frames.append(frame)
        if frame.get("event") == event:
            return frames


async def test_one_event_larger_than_the_limit_reaches_every_client_that_reads(raw, gateway):
    runtime = await gateway.current_runtime()
    async with raw(handshake=True) as first, raw(handshake=True) as second:
        with trio.fail_after(9):  # within the gateway fixture's 10 s
            # As at the end of a long agent reply: the big event, then more right behind it, in one go.
            runtime.broadcaster.broadcast("agent", {"text": "x" * BIG}, droppable=False)
            runtime.broadcaster.broadcast("chat", {"state": "final", "text": "y" * 1000}, droppable=False)
            runtime.broadcaster.broadcast("health", {"ok": True}, droppable=False)
            for ws in (first, second):
                frames = await frames_until(ws, "health")
                big = next(frame for frame in frames if frame.get("event") == "agent")
                assert len(big["payload"]["text"]) == BIG
                assert [f["event"] for f in frames if f.get("type") == "event"][-3:] == ["agent", "chat", "health"]
                assert (await ws.call("health"))["ok"]


async def test_a_client_that_stops_reading_is_closed_1008_and_a_reading_one_is_not(raw, gateway):
    runtime = await gateway.current_runtime()
    async with raw(handshake=True) as reader, raw(handshake=True, client={
            "id": "test", "version": "1.0", "platform": "linux", "mode": "test", "instanceId": "stuck"}) as stuck:
        (stuck_connection,) = [c for c in runtime.broadcaster.connections if c.params.client.instance_id == "stuck"]
        with trio.fail_after(9):
            sent = 0
            # The stuck client reads nothing: its socket buffers fill, then its queue passes the limit.
            while stuck_connection in runtime.broadcaster.connections:
                assert sent < 2000, "never judged slow"
                runtime.broadcaster.broadcast("agent", {"n": sent, "text": "z" * (LIMIT // 2)}, droppable=False)
                sent += 1
                frame = json.loads(await reader.ws.get_message())  # the reader keeps up, frame by frame
                while frame.get("event") != "agent":
                    frame = json.loads(await reader.ws.get_message())
                assert frame["payload"]["n"] == sent - 1
            assert await stuck.closed() == (1008, "slow consumer")
            assert (await reader.call("health"))["ok"]

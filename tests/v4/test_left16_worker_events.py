"""A ``client.mode: "worker"`` connection is sent no broadcast events (OpenClaw's ``hasEventScope`` refuses
every event to a worker, ``tick`` included), while an operator beside it with the same scopes gets them."""

from __future__ import annotations

import trio

from moltbot.protocol import TickEvent
from tests.conftest import open_raw

CHAT = {"runId": "r1", "sessionKey": "agent:main:main", "seq": 1, "state": "final"}


def _client(client_id: str, mode: str) -> dict:
    return {"id": client_id, "version": "1", "platform": "linux", "mode": mode}


async def _frames_until_response(ws, request_id: str) -> list[dict]:
    frames = []
    while (frame := await ws.receive()).get("id") != request_id:
        frames.append(frame)
    return frames


async def test_worker_mode_connections_get_no_broadcast_events(gateway):
    with trio.fail_after(15):
        async with open_raw(gateway.url, handshake=True, minProtocol=4, maxProtocol=4, scopes=["operator.read"],
                            client=_client("openclaw-worker", "worker")) as worker, \
                open_raw(gateway.url, handshake=True, minProtocol=4, maxProtocol=4, scopes=["operator.read"],
                         client=_client("cli", "cli")) as operator:
            for ws in (worker, operator):
                await ws.call("no.such.method", request_id="registered")
            broadcaster = gateway.runtime.broadcaster
            broadcaster.broadcast("chat", CHAT, droppable=False)
            broadcaster.broadcast("tick", TickEvent(ts=1), droppable=False)
            await worker.send({"type": "req", "id": "after", "method": "no.such.method"})
            await operator.send({"type": "req", "id": "after", "method": "no.such.method"})
            to_worker = await _frames_until_response(worker, "after")
            to_operator = await _frames_until_response(operator, "after")
    assert [f for f in to_worker if f.get("type") == "event"] == []
    ours = [f["event"] for f in to_operator if f.get("event") == "chat" or f.get("payload") == {"ts": 1}]
    assert ours == ["chat", "tick"]  # (the periodic tick, if one falls in between, is not ours)

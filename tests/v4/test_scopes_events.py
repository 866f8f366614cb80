"""Broadcast events are scope-filtered (each event needs the scope its guard names): chat and agent need read; tick reaches everyone.

Each test broadcasts the event under test, then ``tick`` (which every connection receives): a connection
that reads the tick without the event before it was not sent the event (frames keep their order).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from moltbot.protocol import TickEvent
from tests.conftest import open_raw
from tests.v4.handshake_support import open_device_node

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}
NODE = {"id": "node-host", "version": "1", "platform": "linux", "mode": "node"}
CHAT = {"runId": "r1", "sessionKey": "agent:main:main", "seq": 1, "state": "final"}
AGENT = {"runId": "r1", "seq": 1, "stream": "lifecycle", "ts": 1, "data": {"phase": "end"}}


@asynccontextmanager
async def listener(gateway, protocol: int, scopes: list[str] | None, *, client=CLI, role: str | None = None):
    if role == "node" and protocol == 4:  # a node needs a device identity at 4
        async with open_device_node(gateway.url, client_id=client["id"]) as ws:
            yield ws
        return
    async with open_raw(gateway.url, handshake=True, minProtocol=protocol, maxProtocol=protocol, client=client,
                        scopes=scopes, role=role) as ws:
        await ws.call("no.such.method")  # answered once the reader runs: the connection is registered
        yield ws


SENT = ("chat", "agent", "heartbeat", "node.pair.requested")


async def events_before_tick(ws) -> list[str]:
    """The events of ``SENT`` read before the test's tick (presence, health and the periodic tick come and go
    on their own)."""
    names = []
    while (frame := await ws.receive()).get("event") != "tick" or frame["payload"] != {"ts": 1}:
        if frame.get("type") == "event" and frame["event"] in SENT:
            names.append(frame["event"])
    return names


def broadcast(gateway, *events: tuple[str, Any]) -> None:
    for name, payload in events:
        gateway.runtime.broadcaster.broadcast(name, payload, droppable=False)
    gateway.runtime.broadcaster.broadcast("tick", TickEvent(ts=1), droppable=True)


@pytest.mark.parametrize("protocol", [4, 7])
async def test_chat_and_agent_events_skip_an_operator_without_read(gateway, protocol):
    with trio.fail_after(10):
        async with listener(gateway, protocol, ["operator.pairing"]) as pairing, \
                listener(gateway, protocol, ["operator.read"]) as reader:
            broadcast(gateway, ("chat", CHAT), ("agent", AGENT))
            assert await events_before_tick(pairing) == []
            assert await events_before_tick(reader) == ["chat", "agent"]


async def test_protocol_4_nodes_get_only_the_events_for_everyone(gateway):
    with trio.fail_after(10):
        async with listener(gateway, 4, None, client=NODE, role="node") as node:
            broadcast(gateway, ("chat", CHAT), ("heartbeat", {"ts": 1, "status": "ok-empty"}))
            assert await events_before_tick(node) == ["heartbeat"]


async def test_protocol_7_nodes_still_get_chat_as_in_january(gateway):
    with trio.fail_after(10):
        async with listener(gateway, 7, None, client=NODE, role="node") as node:
            broadcast(gateway, ("chat", CHAT), ("node.pair.requested", {"requestId": "x"}))
            assert await events_before_tick(node) == ["chat"]

"""A restart hands over to the next Runtime before the old one's clients are sent away (issue 17, item 6).

The old Runtime's services stop first (nothing runs twice), the new one starts and accepts, and only then
are the old clients sent ``shutdown`` and 1012, a batch at a time, in the old Runtime's own task: a
restart's downtime does not grow with the number of connections open. Over real loopback sockets.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from moltbot.gateway.runtime import Runtime
from tests.conftest import open_raw


async def test_the_old_clients_are_sent_off_only_once_the_new_runtime_serves(gateway, monkeypatch):
    seen: list[tuple[bool, bool]] = []  # at send_off: (is the new Runtime current, are the old services gone)
    send_off = Runtime.send_off

    async def recording(self: Runtime, reason: str, restart_expected_ms: int | None) -> None:
        seen.append((gateway.runtime is not self, self.retirement.services_ended.is_set()))
        await send_off(self, reason, restart_expected_ms)

    monkeypatch.setattr(Runtime, "send_off", recording)
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True) as one, open_raw(gateway.url, handshake=True) as two:
            old = gateway.runtime
            done = gateway.next_restart()
            gateway.request_restart("test handover", gateway.config)
            for client in (one, two):
                assert (await client.event("shutdown"))["payload"]["reason"] == "gateway restarting"
                assert await client.closed() == (1012, "service restart")
            await done.wait()
        assert seen == [(True, True)]
        assert gateway.runtime is not old and not old.broadcaster.connections
        async with open_raw(gateway.url, handshake=True) as three:  # the new Runtime serves
            assert (await three.call("health"))["ok"]


async def test_a_request_to_a_runtime_being_replaced_ends_with_its_connection(gateway):
    """Between the old Runtime's services stopping and its clients being sent off, a request is not acted on
    (its services are gone): the client sees it end with the 1012 close, as any request racing a close,
    and sends it again to the next Runtime (the Control UI treats it as "disconnected", not as an error)."""
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True) as client:
            runtime = gateway.runtime
            await runtime.begin_drain("test", runs_grace=0)
            await client.send({"type": "req", "id": "late", "method": "health"})
            await trio.testing.wait_all_tasks_blocked()
            await runtime.send_off("test", 1500)
            frames = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    frames.append(await client.receive())
    assert not [frame for frame in frames if frame.get("type") == "res"]  # "late" was not answered
    assert frames[-1].get("event") == "shutdown"
    assert (closed.value.reason.code, closed.value.reason.reason) == (1012, "service restart")

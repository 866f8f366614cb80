"""A restart hands over to the next Runtime before the old one's clients are sent away (issue 17, item 6).

The old Runtime's services stop first (nothing runs twice), the new one starts and accepts, and only then
are the old clients sent ``shutdown`` and 1012, a batch at a time, in the old Runtime's own task: a
restart's downtime does not grow with the number of connections open. Over real loopback sockets.
"""

from __future__ import annotations

import trio

from moltbot.gateway.runtime import Runtime
from tests.conftest import open_raw


async def test_the_old_clients_are_sent_off_only_once_the_new_runtime_serves(gateway, monkeypatch):
    seen: list[tuple[bool, bool]] = []  # at send_off: (is the new Runtime current, are the old services gone)
    send_off = Runtime.send_off

    async def recording(self: Runtime, reason: str, restart_expected_ms: int | None) -> None:
        seen.append((gateway.runtime is not self, self._services_done.is_set()))
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


async def test_a_request_to_a_runtime_being_replaced_is_answered_retryable(gateway):
    """Between the old Runtime's services stopping and its clients being sent off, a request gets a clear,
    retryable answer instead of reaching a stopped service."""
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True) as client:
            runtime = gateway.runtime
            await runtime.begin_drain("test", runs_grace=0)
            answer = await client.call("health")
    assert answer["ok"] is False
    assert answer["error"]["code"] == "UNAVAILABLE" and "restarting" in answer["error"]["message"]
    assert answer["error"]["retryAfterMs"] == 1000

"""hello-ok from its template (``hello.hello_frame``) is the very text the full encoding gives.

Each case takes a connected client's ``Connection`` from a live gateway, builds the accepted ``connect``
for it, and compares ``hello_frame`` with ``hello_text(hello_ok(...))`` with the clock and the uptime held
still (both read them), after what would make a stale template wrong: another protocol, a presence change,
a health refresh, a config change, a tracked entry expiring.
"""

import json
import uuid

import attrs
import pytest
import trio

from moltbot._util import wall_ms
from moltbot.gateway.hello import HelloTemplates, hello_frame, hello_ok, hello_text
from moltbot.protocol import Accept, ServerHandshake
from tests.conftest import TOKEN, connect_frame


async def _accept(runtime, connection, protocol: int) -> Accept:
    handshake = ServerHandshake(nonce=str(uuid.uuid4()), now_ms=wall_ms())
    outcome = handshake.receive(connect_frame(minProtocol=protocol, maxProtocol=protocol))
    assert isinstance(outcome, Accept)
    outcome = await runtime.authenticate(handshake, outcome, connection.transport)
    assert isinstance(outcome, Accept) and outcome.protocol == protocol
    return outcome


def _client(instance: str) -> dict:
    return {"id": "test", "version": "1.0", "platform": "linux", "mode": "test", "instanceId": instance}


def _both(runtime, connection, accept, templates) -> tuple[str, str]:
    fast = hello_frame(runtime, connection, accept, templates)
    slow = hello_text(runtime.presence, accept.request_id, hello_ok(runtime, connection, accept))
    return fast, slow


@pytest.fixture
def still(gateway, monkeypatch):
    """The presence clock and the uptime held at fixed values (``now`` moves them on)."""
    clock = {"now": wall_ms()}

    async def hold():
        runtime = await gateway.current_runtime()
        monkeypatch.setattr(runtime.presence, "_clock_ms", lambda: clock["now"])
        monkeypatch.setattr(type(runtime.state), "uptime_ms", lambda self: 4242)
        return runtime

    return clock, hold


async def test_hello_frame_matches_the_full_encoding(raw, gateway, still):
    clock, hold = still
    async with raw(handshake=True), raw(handshake=True, client=_client("inst-a")):
        runtime = await hold()
        connection = next(iter(runtime.broadcaster.connections))
        templates = HelloTemplates()
        for protocol in (3, 4, 7, 3):
            accept = await _accept(runtime, connection, protocol)
            for _ in range(2):  # the second time from the template
                fast, slow = _both(runtime, connection, accept, templates)
                assert fast == slow
            payload = json.loads(fast)["payload"]
            assert payload["protocol"] == protocol and payload["server"]["connId"] == connection.conn_id

        accept = await _accept(runtime, connection, 3)
        # A new presence row, a changed one, then a health refresh (a new summary, a new version).
        async with raw(handshake=True, client=_client("inst-b")):
            fast, slow = _both(runtime, connection, accept, templates)
            assert fast == slow and "inst-b" in fast
        runtime.presence.merge("inst-a", text="changed")
        fast, slow = _both(runtime, connection, accept, templates)
        assert fast == slow and '"text":"changed"' in fast
        runtime.health.refresh()
        fast, slow = _both(runtime, connection, accept, templates)
        assert fast == slow
        # A config change that shows in hello-ok: the template made for the old one is not used.
        before = fast
        runtime.config = attrs.evolve(
            runtime.config, gateway=attrs.evolve(runtime.config.gateway, tick_interval_ms=12_345)
        )
        fast, slow = _both(runtime, connection, accept, templates)
        assert fast == slow and '"tickIntervalMs":12345' in fast and fast != before
        # Time passes: the self entry is stamped now, and tracked rows past their TTL are gone.
        clock["now"] += 6 * 60 * 1000
        fast, slow = _both(runtime, connection, accept, templates)
        assert fast == slow and "inst-a" not in fast
        assert len(json.loads(fast)["payload"]["snapshot"]["presence"]) == 1


async def test_the_wire_hello_ok_is_the_template_one(raw, gateway):
    """What a client receives parses into the hello-ok the full encoding describes."""
    async with raw() as ws:
        await ws.send(connect_frame(client={**_client("inst-x"), "displayName": "x"}, auth={"token": TOKEN}))
        with trio.fail_after(10):
            hello = await ws.response("c1")
    payload = hello["payload"]
    assert hello["ok"] and payload["type"] == "hello-ok"
    assert payload["snapshot"]["presence"][0]["reason"] == "self"
    assert any(entry.get("host") == "x" for entry in payload["snapshot"]["presence"])


def test_presence_wire_now_is_the_listing_encoded():
    """``PresenceRegistry.wire_now`` (cached between changes) against ``wire(entries())``, through
    upserts in and out of ts order, evictions past the cap, merges, removals and expiry."""
    import random

    from moltbot.gateway.presence import MAX_ENTRIES, TTL_MS, PresenceRegistry
    from moltbot.protocol import PresenceEntry

    clock = {"now": 1_000_000}
    registry = PresenceRegistry("9.9.9", clock_ms=lambda: clock["now"])
    reference = PresenceRegistry("9.9.9", clock_ms=lambda: clock["now"])
    reference._ordered = False  # evicts by a scan for the oldest, always
    chance = random.Random(17)
    for step in range(1500):
        action = chance.random()
        key = f"k{chance.randrange(300)}"
        if action < 0.6:
            # Stamped now for the first 1,000 steps (evictions take the first entry), then sometimes older.
            back = 0 if step < 1000 else chance.choice((0, 0, 1, 5000))
            entry = PresenceEntry(ts=clock["now"] - back, host=key, mode="test", reason="connect")
            registry.upsert(key, entry)
            reference.upsert(key, entry)
        elif action < 0.75:
            registry.merge(key, text=f"t{step}")
            reference.merge(key, text=f"t{step}")
        elif action < 0.85:
            registry.remove(key)
            reference.remove(key)
        elif action < 0.97 or step < 1000:
            clock["now"] += chance.choice((0, 1, 1000))
        else:
            clock["now"] += TTL_MS // 2
        expected = registry.wire(registry.entries())
        assert registry.wire_now() == expected == reference.wire(reference.entries())
        assert len(registry) <= MAX_ENTRIES
        if step == 999:
            assert registry._ordered and len(registry) == MAX_ENTRIES

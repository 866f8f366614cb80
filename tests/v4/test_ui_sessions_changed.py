"""``sessions.changed`` at protocol 4: to the connections that called ``sessions.subscribe`` (as OpenClaw's
subscription, which ends with the connection), one per session row created, updated, reset or deleted.

The schema has no payload definition for this event; its frame is checked against the schema's
``EventFrame`` and the payload against OpenClaw 2026.9.6's key-only form (``sessionKey``, ``reason``, ``ts``,
``sessionId``).
"""

from __future__ import annotations

import trio

from tests.conftest import connect_frame, open_raw
from tests.v4.test_methods_cron import OPERATOR, call, operator
from tests.v4.test_ui_params import check

KEY = "agent:main:work"


async def _changing(ws, method: str, params: dict) -> dict:
    """Call ``method``; return the one ``sessions.changed`` it caused (sent before or after its response)."""
    await ws.send({"type": "req", "id": method, "method": method, "params": params})
    changed, answered = [], False
    while not (answered and changed):
        frame = await ws.receive()
        if frame.get("type") == "res" and frame.get("id") == method:
            assert frame["ok"], frame
            answered = True
        elif frame.get("event") == "sessions.changed":
            changed.append(frame)
    (frame,) = changed
    assert "seq" not in frame  # targeted: the global seq counts what every client receives
    return frame


async def test_a_subscriber_hears_each_row_created_updated_reset_and_deleted(gateway, openclaw_schema):
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            assert await call(ws, "sessions.subscribe", {}) == {"subscribed": True}
            created = await _changing(ws, "sessions.patch", {"key": KEY, "label": "work"})
            updated = await _changing(ws, "sessions.patch", {"key": KEY, "label": "renamed"})
            reset = await _changing(ws, "sessions.reset", {"key": KEY})
            deleted = await _changing(ws, "sessions.delete", {"key": KEY})
    for frame in (created, updated, reset, deleted):
        check(openclaw_schema, "EventFrame", frame)
        assert set(frame["payload"]) == {"sessionKey", "reason", "ts", "sessionId"}
        assert frame["payload"]["sessionKey"] == KEY
    assert [f["payload"]["reason"] for f in (created, updated, reset, deleted)] == [
        "create", "update", "reset", "delete"]
    assert created["payload"]["sessionId"] == updated["payload"]["sessionId"] != reset["payload"]["sessionId"]
    assert deleted["payload"]["sessionId"] == reset["payload"]["sessionId"]  # the removed generation's id


async def test_a_chat_turn_announces_its_new_session(gateway):
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            await call(ws, "sessions.subscribe", {})
            changed = await _changing(ws, "chat.send", {"sessionKey": KEY, "message": "hi", "idempotencyKey": "k1"})
            listed = await call(ws, "sessions.list", {})
    assert changed["payload"]["reason"] == "create" and changed["payload"]["sessionKey"] == KEY
    assert changed["payload"]["sessionId"] == next(r["sessionId"] for r in listed["sessions"] if r["key"] == KEY)


async def test_only_subscribers_hear_it(gateway):
    """A connection that never subscribed gets no ``sessions.changed``: after the subscriber's event, the
    other's next frame is the response to a later request."""
    with trio.fail_after(30):
        async with operator(gateway) as subscriber, operator(gateway) as other:
            await call(subscriber, "sessions.subscribe", {})
            await call(other, "sessions.patch", {"key": KEY, "label": "x"})
            await subscriber.event("sessions.changed")
            await other.send({"type": "req", "id": "after", "method": "sessions.list", "params": {}})
            while (frame := await other.receive()).get("type") == "event":
                assert frame["event"] != "sessions.changed"
    assert frame["id"] == "after"


async def test_subscription_ends_with_the_connection(gateway):
    with trio.fail_after(30):
        async with operator(gateway) as first:
            await call(first, "sessions.subscribe", {})
        async with operator(gateway) as ws:
            await call(ws, "sessions.patch", {"key": KEY, "label": "x"})
    assert not gateway.runtime.session_subscribers


async def test_the_event_is_advertised_in_hello_ok(gateway):
    with trio.fail_after(10):
        async with open_raw(gateway.url) as ws:
            await ws.send(connect_frame(minProtocol=4, maxProtocol=4, **OPERATOR))
            hello = await ws.response("c1")
    assert "sessions.changed" in hello["payload"]["features"]["events"]

"""Agent runs over the WebSocket with the built-in echo model: two-stage ``agent``, events, chat, sessions."""

import json

import trio

from moltbot.agents.providers.echo import PREFIX


async def collect_until(ws, predicate):
    """Frames until one satisfies ``predicate`` (inclusive)."""
    frames = []
    while True:
        frame = await ws.receive()
        frames.append(frame)
        if predicate(frame):
            return frames


async def test_agent_answers_twice_on_one_id_and_streams_events(raw, gateway):
    async with raw(handshake=True) as ws:
        await ws.send({"type": "req", "id": "a1", "method": "agent",
                       "params": {"message": "hello there", "idempotencyKey": "run-1"}})
        with trio.fail_after(10):
            frames = await collect_until(ws, lambda f: f.get("id") == "a1" and f["payload"].get("status") == "ok")
    responses = [f for f in frames if f["type"] == "res"]
    assert responses[0]["payload"]["status"] == "accepted" and responses[0]["payload"]["runId"] == "run-1"
    final = responses[-1]["payload"]
    assert final["status"] == "ok" and final["result"]["text"] == PREFIX + "hello there"
    agent_events = [f["payload"] for f in frames if f.get("event") == "agent"]
    assert [e["seq"] for e in agent_events] == list(range(1, len(agent_events) + 1))
    assert agent_events[0]["data"]["phase"] == "start" and agent_events[-1]["data"]["phase"] == "end"
    assert agent_events[-2]["data"]["text"] == PREFIX + "hello there"
    assert all(e["sessionKey"] == "agent:main:main" for e in agent_events)
    chats = [f["payload"] for f in frames if f.get("event") == "chat"]
    assert chats[-1]["state"] == "final"
    assert chats[-1]["message"]["content"][0]["text"] == PREFIX + "hello there"


async def test_repeated_idempotency_key_returns_the_cached_result(client):
    async with client() as c:
        first = await c.call("agent", {"message": "once", "idempotencyKey": "same"})
        second = await c.call("agent", {"message": "ignored", "idempotencyKey": "same"})
        waited = await c.call("agent.wait", {"runId": "same"})
        history = await c.call("chat.history", {"sessionKey": "main"})
    assert first["status"] == "accepted"  # the client returns the first response of the two
    assert second["runId"] == "same"
    assert waited["status"] == "ok" and waited["endedAt"] >= waited["startedAt"]
    texts = [m["content"][0]["text"] for m in history["messages"]]
    assert texts == ["once", PREFIX + "once"]  # one run, not two


async def test_agent_wait_for_an_unknown_run_times_out(client):
    async with client() as c:
        assert await c.call("agent.wait", {"runId": "nope", "timeoutMs": 0}) == {"runId": "nope", "status": "timeout"}


async def test_chat_send_runs_in_the_session_and_history_keeps_the_transcript(client, gateway, tmp_path):
    async with client() as c:
        events = c.subscribe()
        started = await c.call("chat.send", {"sessionKey": "agent:main:work", "message": "hi",
                                             "idempotencyKey": "chat-1"})
        assert started == {"runId": "chat-1", "status": "started"}
        with trio.fail_after(10):
            while True:
                event = await events.receive()
                if event.event == "chat" and event.payload["state"] == "final":
                    break
        duplicate = await c.call("chat.send", {"sessionKey": "agent:main:work", "message": "hi",
                                               "idempotencyKey": "chat-1"})
        history = await c.call("chat.history", {"sessionKey": "agent:main:work"})
        sessions = await c.call("sessions.list", {})
    assert duplicate == {"runId": "chat-1", "status": "ok"}
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    assert any(row["key"] == "agent:main:work" for row in sessions["sessions"])
    store = tmp_path / "agents" / "main" / "sessions" / "sessions.json"
    entry = json.loads(store.read_text())["agent:main:work"]
    lines = (store.parent / f"{entry['sessionId']}.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "session" and len(lines) == 3


async def test_chat_send_validation(client):
    async with client() as c:
        try:
            await c.call("chat.send", {"sessionKey": "main", "message": "  ", "idempotencyKey": "x"})
        except Exception as exc:
            assert "message or attachment required" in str(exc)
        else:
            raise AssertionError("empty message accepted")
        assert await c.call("chat.send", {"sessionKey": "main", "message": "/stop", "idempotencyKey": "y"}) == {
            "ok": True, "aborted": False, "runIds": []}


async def test_agents_and_models_are_listed(client):
    async with client() as c:
        agents = await c.call("agents.list")
        models = await c.call("models.list")
        identity = await c.call("agent.identity.get", {})
    assert agents["defaultId"] == "main" and agents["agents"] == [{"id": "main", "model": {"primary": "echo/echo"}}]
    assert {"id": "echo", "name": "Echo (offline test model)", "provider": "echo"} in models["models"]
    assert identity == {"agentId": "main"}


async def test_sessions_patch_reset_delete(client):
    async with client() as c:
        await c.call("agent", {"message": "x", "idempotencyKey": "k1", "sessionKey": "agent:main:side"})
        await c.call("agent.wait", {"runId": "k1"})
        patched = await c.call("sessions.patch", {"key": "agent:main:side", "label": "Side", "model": None})
        assert patched["entry"]["label"] == "Side"
        old_id = patched["entry"]["sessionId"]
        reset = await c.call("sessions.reset", {"key": "agent:main:side"})
        assert reset["entry"]["sessionId"] != old_id and reset["entry"]["label"] == "Side"
        preview = await c.call("sessions.preview", {"keys": ["agent:main:side", "agent:main:none"]})
        assert [p["status"] for p in preview["previews"]] == ["empty", "missing"]
        deleted = await c.call("sessions.delete", {"key": "agent:main:side"})
        assert deleted["deleted"] is True
        try:
            await c.call("sessions.delete", {"key": "main"})
        except Exception as exc:
            assert "Cannot delete the main session (agent:main:main)." in str(exc)
        else:
            raise AssertionError("main session deleted")


async def test_status_reports_lane_activity(client):
    async with client() as c:
        await c.call("agent", {"message": "count me", "idempotencyKey": "lane-1"})
        await c.call("agent.wait", {"runId": "lane-1"})
        lanes = {lane["lane"]: lane for lane in (await c.call("status"))["lanes"]}
    assert lanes["main"]["completed"] >= 1 and lanes["main"]["queued"] == 0 and lanes["main"]["errors"] == 0


async def test_unknown_agent_is_refused(client):
    async with client() as c:
        try:
            await c.call("agent", {"message": "x", "idempotencyKey": "u1", "agentId": "ghost"})
        except Exception as exc:
            assert "unknown agent id: ghost" in str(exc)
        else:
            raise AssertionError("unknown agent accepted")



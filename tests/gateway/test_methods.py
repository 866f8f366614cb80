"""Methods after the handshake: results, scopes and roles, and the post-handshake error rules."""

import json

import pytest

from moltbot.protocol import RemoteProtocolError
from tests.conftest import TOKEN


async def test_health_returns_summary(client):
    async with client() as c:
        health = await c.call("health")
    assert health["ok"] is True and health["defaultAgentId"] == "main"
    assert health["agents"][0]["isDefault"] is True


async def test_health_probe_refreshes_and_broadcasts_health_with_state_version(client):
    async with client() as c:
        events = c.subscribe()
        version = c.hello.snapshot.state_version.health
        await c.call("health", {"probe": True})
        while True:
            event = await events.receive()
            if event.event == "health" and event.state_version.health > version:
                break
    assert event.payload["ok"] is True and event.seq >= 1


async def test_status_reports_lanes_and_error_counts(client, raw):
    async with raw(handshake=True) as ws:
        await ws.send("not json")  # ignored, but counted
        await ws.send({"type": "req", "id": "", "method": "health"})
        assert (await ws.response("invalid"))["ok"] is False
    async with client() as c:
        status = await c.call("status")
    assert status["gateway"]["errors"]["protocol"] >= 2
    assert status["gateway"]["connections"] >= 1
    lanes = {lane["lane"]: lane for lane in status["lanes"]}
    assert lanes["main"]["queued"] == 0 and lanes["main"]["maxConcurrent"] == 4
    assert set(status) >= {"heartbeat", "channelSummary", "queuedSystemEvents", "sessions"}


async def test_system_presence_lists_gateway_and_tracked_clients_not_cli(client):
    async with client(client_id="test", mode="test", instance_id="inst-1"), client(client_id="cli", mode="cli") as c:
        presence = await c.call("system-presence")
    reasons = [(entry.get("instanceId"), entry.get("reason")) for entry in presence]
    assert (None, "self") in reasons and ("inst-1", "connect") in reasons
    assert not any(entry.get("mode") == "cli" for entry in presence)


async def test_system_event_updates_presence_and_broadcasts(client):
    async with client() as watcher, client() as c:
        events = watcher.subscribe()
        assert await c.call("system-event", {"text": "Node: kitchen online", "instanceId": "kitchen"}) == {"ok": True}
        while True:  # the first presence events may be the connects; wait for the kitchen entry
            event = await events.receive()
            if event.event == "presence" and any(e.get("instanceId") == "kitchen" for e in event.payload["presence"]):
                break
        kitchen = next(e for e in event.payload["presence"] if e.get("instanceId") == "kitchen")
        assert kitchen["text"] == "Node: kitchen online"
        assert event.state_version is not None
        status = await c.call("status")
    assert status["queuedSystemEvents"] == ["Node: kitchen online"]


async def test_last_heartbeat_is_null_before_any_heartbeat(raw):
    async with raw(handshake=True) as ws:
        response = await ws.call("last-heartbeat")
    assert response == {"type": "res", "id": "r1", "ok": True, "payload": None}


async def test_read_scope_may_call_health_but_not_admin_methods(client):
    async with client(scopes=["operator.read"]) as c:
        assert (await c.call("health"))["ok"] is True
        with pytest.raises(RemoteProtocolError, match="missing scope: operator.admin"):
            await c.call("system-event", {"text": "x"})


async def test_node_role_may_not_call_operator_methods(client):
    async with client(role="node") as c:
        with pytest.raises(RemoteProtocolError, match="unauthorized role: node"):
            await c.call("health")


async def test_unknown_method_is_named(client):
    async with client() as c:
        with pytest.raises(RemoteProtocolError, match="unknown method: nope.nope"):
            await c.call("nope.nope")


async def test_invalid_params_name_the_field(client):
    async with client() as c:
        with pytest.raises(RemoteProtocolError) as info:
            await c.call("system-event", {"text": "", "extra": 1})
    assert info.value.code == "INVALID_REQUEST"
    assert "at /text" in info.value.message and "unexpected property 'extra'" in info.value.message


async def test_second_connect_is_refused_and_connection_stays_open(raw):
    async with raw(handshake=True) as ws:
        response = await ws.call("connect", json.loads('{"minProtocol":3,"maxProtocol":7}'))
        assert response["error"]["message"] == "connect is only valid as the first request"
        assert (await ws.call("health", request_id="r2"))["ok"] is True


async def test_invalid_frame_after_handshake_is_answered_with_its_id(raw):
    async with raw(handshake=True) as ws:
        await ws.send({"type": "req", "id": "x7", "method": "health", "bogus": True})
        response = await ws.response("x7")
        assert response["error"]["message"].startswith("invalid request frame: at root: unexpected property 'bogus'")
        await ws.send({"type": "req", "method": "health"})
        assert (await ws.response("invalid"))["error"]["code"] == "INVALID_REQUEST"


async def test_invalid_json_after_handshake_is_ignored(raw):
    async with raw(handshake=True) as ws:
        await ws.send("{{{")
        assert (await ws.call("health"))["ok"] is True


async def test_client_library_reports_refused_connect(gateway):
    from moltbot.client import open_gateway_client

    with pytest.raises(RemoteProtocolError, match="unauthorized: gateway token mismatch"):
        async with open_gateway_client(gateway.url, token=TOKEN + "x"):
            pass

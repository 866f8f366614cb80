"""Device identities at connect over real loopback sockets: silent local pairing, remote pairing by an
operator, device tokens (issue, reuse, rotate, revoke) and each refusal with the reference's message."""

from __future__ import annotations

import json
import stat
import time

import trio

from moltbot.protocol import RemoteProtocolError
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import TOKEN, open_raw
from tests.nodes.helpers import OPERATOR_SCOPES, REMOTE, next_event, signed_connect


async def _connect(url: str, key: DeviceKeyPair, **kwargs) -> tuple[dict, tuple[int, str] | None]:
    """Send a signed connect on a fresh socket; return the response and the close (if it closed)."""
    async with open_raw(url) as ws:
        await ws.send(signed_connect(key, ws.challenge["payload"]["nonce"], **kwargs))
        response = await ws.response("c1")
        return response, (None if response["ok"] else await ws.closed())


async def test_local_device_is_paired_silently_and_gets_a_token(gateway, client, tmp_path):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with client(scopes=OPERATOR_SCOPES) as operator:
            events = operator.subscribe()
            response, _ = await _connect(gateway.url, key)
            resolved = await next_event(events, "device.pair.resolved")
    auth = response["payload"]["auth"]
    assert auth["role"] == "node" and len(auth["deviceToken"]) == 32 and auth["scopes"] == []
    assert resolved.payload["deviceId"] == key.device_id and resolved.payload["decision"] == "approved"
    for name in ("paired.json", "pending.json"):
        assert stat.S_IMODE((tmp_path / "devices" / name).stat().st_mode) == 0o600
    paired = json.loads((tmp_path / "devices" / "paired.json").read_text())[key.device_id]
    assert paired["roles"] == ["node"] and paired["tokens"]["node"]["token"] == auth["deviceToken"]


async def test_device_token_alone_reconnects_and_is_reused(gateway):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        first, _ = await _connect(gateway.url, key)
        token = first["payload"]["auth"]["deviceToken"]
        again, _ = await _connect(gateway.url, key, token=token)
    assert again["ok"] and again["payload"]["auth"]["deviceToken"] == token


async def test_remote_device_needs_pairing_then_connects(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with client(scopes=OPERATOR_SCOPES) as operator, client(scopes=["operator.read"]) as reader:
            events, reader_events = operator.subscribe(), reader.subscribe()
            async with open_raw(gateway.url, extra_headers=REMOTE) as ws:
                await ws.send(signed_connect(key, ws.challenge["payload"]["nonce"]))
                refused = await ws.response("c1")
                assert await ws.closed() == (1008, "pairing required")
            error = refused["error"]
            assert (error["code"], error["message"]) == ("NOT_PAIRED", "pairing required")
            requested = await next_event(events, "device.pair.requested")
            assert requested.payload["requestId"] == error["details"]["requestId"]
            assert requested.payload["deviceId"] == key.device_id and requested.payload["role"] == "node"
            listed = await operator.call("device.pair.list")
            assert [p["requestId"] for p in listed["pending"]] == [error["details"]["requestId"]]
            approved = await operator.call("device.pair.approve", {"requestId": error["details"]["requestId"]})
            assert approved["device"]["roles"] == ["node"] and "token" not in json.dumps(approved["device"]["tokens"][0])
            await next_event(events, "device.pair.resolved")
            async with open_raw(gateway.url, extra_headers=REMOTE) as ws:
                await ws.send(signed_connect(key, ws.challenge["payload"]["nonce"]))
                assert (await ws.response("c1"))["payload"]["auth"]["role"] == "node"
            # operators without operator.pairing never saw the pairing events
            await reader.call("health")
            seen = []
            while True:
                try:
                    seen.append(reader_events.receive_nowait().event)
                except trio.WouldBlock:
                    break
    assert not any(name.startswith("device.pair") for name in seen)


async def test_forged_signature_is_refused(gateway):
    victim, forger = DeviceKeyPair.generate(), DeviceKeyPair.generate()
    with trio.fail_after(10):
        response, closed = await _connect(gateway.url, forger, device_key=victim)
    assert response["error"]["message"] == "device signature invalid" and closed == (1008, "device signature invalid")


async def test_replayed_nonce_is_refused(gateway):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with open_raw(gateway.url) as first:
            captured = signed_connect(key, first.challenge["payload"]["nonce"])
        async with open_raw(gateway.url) as replay:  # a new connection has a new challenge
            await replay.send(captured)
            response = await replay.response("c1")
            closed = await replay.closed()
    assert response["error"]["message"] == "device nonce mismatch" and closed == (1008, "device nonce mismatch")


async def test_remote_device_without_nonce_is_refused(gateway):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with open_raw(gateway.url, extra_headers=REMOTE) as ws:
            await ws.send(signed_connect(key, None))
            response = await ws.response("c1")
    assert response["error"]["message"] == "device nonce required"


async def test_expired_signature_is_refused(gateway):
    key = DeviceKeyPair.generate()
    eleven_minutes_ago = int(time.time() * 1000) - 11 * 60 * 1000
    with trio.fail_after(10):
        response, closed = await _connect(gateway.url, key, signed_at=eleven_minutes_ago)
    assert response["error"]["message"] == "device signature expired" and closed == (1008, "device signature expired")


async def test_revoked_token_is_refused(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        first, _ = await _connect(gateway.url, key)
        token = first["payload"]["auth"]["deviceToken"]
        async with client(scopes=OPERATOR_SCOPES) as operator:
            revoked = await operator.call("device.token.revoke", {"deviceId": key.device_id, "role": "node"})
            assert revoked["revokedAtMs"] > 0
            listed = await operator.call("device.pair.list")
        response, closed = await _connect(gateway.url, key, token=token)
    assert listed["paired"][0]["tokens"][0]["revokedAtMs"] == revoked["revokedAtMs"]
    assert response["error"]["message"].startswith("unauthorized: gateway token mismatch")
    assert closed[0] == 1008


async def test_rotated_token_replaces_the_old_one(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        first, _ = await _connect(gateway.url, key)
        old = first["payload"]["auth"]["deviceToken"]
        async with client(scopes=OPERATOR_SCOPES) as operator:
            rotated = await operator.call("device.token.rotate", {"deviceId": key.device_id, "role": "node"})
            try:
                await operator.call("device.token.rotate", {"deviceId": key.device_id, "role": "operator"})
            except RemoteProtocolError as exc:
                unknown = exc.message
        assert rotated["token"] != old and rotated["scopes"] == []
        refused, _ = await _connect(gateway.url, key, token=old)
        accepted, _ = await _connect(gateway.url, key, token=rotated["token"])
    assert unknown == "unknown deviceId/role"
    assert not refused["ok"] and accepted["ok"]


async def test_scope_upgrade_of_a_remote_device_needs_approval(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        response, _ = await _connect(gateway.url, key, role="operator", scopes=["operator.read"])
        assert response["ok"]
        async with open_raw(gateway.url, extra_headers=REMOTE) as ws:
            await ws.send(signed_connect(key, ws.challenge["payload"]["nonce"], role="operator",
                                         scopes=["operator.read", "operator.write"]))
            refused = await ws.response("c1")
        async with client(scopes=OPERATOR_SCOPES) as operator:
            pending = (await operator.call("device.pair.list"))["pending"]
    assert refused["error"]["code"] == "NOT_PAIRED"
    assert pending[0]["isRepair"] is True and pending[0]["scopes"] == ["operator.read", "operator.write"]


async def test_token_only_client_without_device_still_connects(raw):
    async with raw(handshake=True) as ws:
        assert (await ws.call("health"))["ok"]


async def test_client_library_signs_with_a_device(gateway):
    from moltbot.client import open_gateway_client

    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with open_gateway_client(gateway.url, token=TOKEN, device=key, client_id="cli", mode="cli",
                                       scopes=["operator.admin"]) as c:
            assert c.hello.auth.role == "operator" and c.hello.auth.scopes == ["operator.admin"]
            presence = await c.call("system-presence")
    assert not any(e.get("deviceId") == key.device_id for e in presence)  # CLI clients are not tracked

"""The handshake over a real socket: every malformed first frame and connect (each with the
close it gets, answered where it has an id), while a bystander stays."""

import json

import pytest
import trio

from moltbot.config.model import AuthConfig, AuthRateLimit
from moltbot.gateway.app import open_gateway
from moltbot.gateway.hello import hello_text
from moltbot.protocol import HelloOk, ResponseFrame, encode_frame, structure
from tests.conftest import TOKEN, connect_frame, open_raw

pytestmark = pytest.mark.usefixtures("gateway")


async def test_challenge_is_sent_on_open(raw):
    async with raw() as ws:
        assert ws.challenge["event"] == "connect.challenge"
        assert set(ws.challenge["payload"]) == {"nonce", "ts", "capabilities"} and "seq" not in ws.challenge


@pytest.mark.parametrize(("offered", "expected"), [((3, 3), 3), ((7, 7), 7), ((1, 99), 7), ((3, 5), 4),
                                                          ((4, 4), 4)])
async def test_hello_ok_answers_highest_common_protocol(raw, offered, expected):
    async with raw() as ws:
        await ws.send(connect_frame(minProtocol=offered[0], maxProtocol=offered[1]))
        hello = await ws.response("c1")
    assert hello["ok"] and hello["payload"]["protocol"] == expected


async def test_hello_ok_carries_features_snapshot_and_policy(raw, gateway):
    async with raw() as ws:
        await ws.send(connect_frame())
        payload = (await ws.response("c1"))["payload"]
    assert payload["type"] == "hello-ok"
    assert {"health", "status", "system-presence", "system-event", "last-heartbeat"} <= set(payload["features"]["methods"])
    assert {"tick", "presence", "health", "shutdown"} <= set(payload["features"]["events"])
    assert payload["policy"] == {"maxPayload": 524288, "maxBufferedBytes": 1572864, "tickIntervalMs": 30000}
    snapshot = payload["snapshot"]
    assert snapshot["stateVersion"]["presence"] >= 1 and snapshot["stateVersion"]["health"] >= 1
    assert snapshot["configPath"] == str(gateway.config.path)
    assert snapshot["sessionDefaults"]["mainSessionKey"] == "agent:main:main"
    assert any(entry.get("reason") == "self" for entry in snapshot["presence"])
    assert payload["server"]["connId"]


async def test_unparseable_first_frame_closes_1000(raw):
    async with raw() as ws:
        await ws.send("{not json")
        assert await ws.closed() == (1000, "")


async def test_first_frame_not_a_request_closes_1008_without_reply(raw):
    async with raw() as ws:
        await ws.send({"type": "event", "event": "hello"})
        assert await ws.closed() == (1008, "invalid request frame")


async def test_first_request_not_connect_is_answered_then_closed_1008(raw):
    async with raw() as ws:
        await ws.send({"type": "req", "id": "h1", "method": "health"})
        response = await ws.receive()
        assert response["error"]["message"] == "invalid handshake: first request must be connect"
        assert await ws.closed() == (1008, "invalid handshake: first request must be connect")


async def test_invalid_connect_params_name_the_field_and_close_1008(raw):
    async with raw() as ws:
        await ws.send(connect_frame(client={"id": "cli", "version": "", "platform": "linux", "mode": "cli"}))
        response = await ws.receive()
        assert response["error"]["code"] == "INVALID_REQUEST"
        assert "at /client/version" in response["error"]["message"]
        code, reason = await ws.closed()
        assert code == 1008 and reason.startswith("invalid connect params")


async def test_protocol_mismatch_closes_1002(raw):
    async with raw() as ws:
        await ws.send(connect_frame(minProtocol=8, maxProtocol=9))
        error = (await ws.receive())["error"]
        assert error["message"] == "protocol mismatch"
        assert error["details"] == {"code": "PROTOCOL_MISMATCH", "clientMinProtocol": 8, "clientMaxProtocol": 9,
                                    "expectedProtocol": 4, "minimumProbeProtocol": 3, "supportedProtocols": [3, 4, 7]}
        assert await ws.closed() == (1002, "protocol mismatch")


async def test_wrong_token_is_refused_with_1008(raw):
    async with raw() as ws:
        await ws.send(connect_frame(auth={"token": "nope"}))
        error = (await ws.receive())["error"]
        assert error["message"].startswith("unauthorized: gateway token mismatch")
        assert "nope" not in error["message"]
        code, reason = await ws.closed()
        assert code == 1008 and reason.startswith("unauthorized")


async def test_missing_token_is_refused_even_on_loopback(raw):
    async with raw() as ws:  # no token and no device: the reference asks for a device identity first
        await ws.send(connect_frame(auth=None))
        error = (await ws.receive())["error"]
        assert (error["code"], error["message"]) == ("NOT_PAIRED", "device identity required")
        assert await ws.closed() == (1008, "device identity required")


async def test_password_mode_accepts_the_password_with_a_device(make_config):
    from moltbot.protocol._device import DeviceKeyPair, sign_connect

    config = make_config(auth=AuthConfig(password="pw-secret"))
    async with open_gateway(config, port=0, env={}) as gateway, open_raw(gateway.url) as ws:
        params = json.loads(connect_frame(auth={"password": "pw-secret"}))["params"]
        params["device"] = sign_connect(DeviceKeyPair.generate(), params, nonce=ws.challenge["payload"]["nonce"])
        await ws.send({"type": "req", "id": "c1", "method": "connect", "params": params})
        assert (await ws.response("c1"))["ok"]
        async with open_raw(gateway.url) as bare:  # a password alone is not enough: a device is needed too
            await bare.send(connect_frame(auth={"password": "pw-secret"}))
            assert (await bare.receive())["error"]["message"] == "device identity required"


async def test_repeated_failures_from_one_address_are_rate_limited(make_config):
    # Loopback is exempt by default (tests/hostile/test_auth_lockout.py); here it stands for a remote address.
    limits = AuthRateLimit(max_failures=3, window_ms=60_000, lockout_ms=30_000, exempt_loopback=False)
    config = make_config(auth=AuthConfig(token=TOKEN, rate_limit=limits))
    async with open_gateway(config, port=0, env={}) as gateway:
        for _ in range(3):
            async with open_raw(gateway.url) as ws:
                await ws.send(connect_frame(auth={"token": "bad"}))
                assert "mismatch" in (await ws.receive())["error"]["message"]
        async with open_raw(gateway.url) as ws:
            await ws.send(connect_frame())  # even the right token is refused during the lockout
            error = (await ws.receive())["error"]
    assert error["message"] == "unauthorized: too many failed authentication attempts (retry later)"
    assert error["retryable"] is True and 0 < error["retryAfterMs"] <= 30_000


async def test_handshake_timeout_closes_1000(make_config):
    async with open_gateway(make_config(handshake_timeout_ms=100), port=0, env={}) as gateway:
        async with open_raw(gateway.url) as ws:
            with trio.fail_after(5):
                assert await ws.closed() == (1000, "handshake timeout")


async def test_oversize_frame_closes_1009(raw):
    async with raw(handshake=True) as ws:
        await ws.send(json.dumps({"type": "req", "id": "big", "method": "health", "params": {"x": "a" * 600_000}}))
        code, _ = await ws.closed()
    assert code == 1009


async def test_bystander_keeps_working_through_every_bad_client(raw, client):
    async with client() as bystander:
        for bad in ["{", json.dumps({"type": "res", "id": "x", "ok": True}), connect_frame(auth={"token": "x"}),
                    connect_frame(minProtocol=99, maxProtocol=99), "a" * 600_000]:
            async with raw() as ws:
                await ws.send(bad)
                await ws.closed()
        assert (await bystander.call("health"))["ok"] is True


@pytest.mark.parametrize("handshake", [False, True], ids=["before-connect", "after-hello"])
async def test_invalid_utf8_text_frame_closes_1007(gateway, client, handshake):
    """RFC 6455 §8.1: invalid UTF-8 in a text frame fails the connection with close 1007 — a close frame,
    not a dropped TCP connection (hypercorn's ASGI path needs ``wsclose.FailingConnection`` for it)."""
    from moltbot.conformance._wire import OPCODE_TEXT, RawWebSocket

    async with client() as bystander:
        raw = await RawWebSocket.connect(gateway.url)
        try:
            with trio.fail_after(5):
                await raw.receive()  # connect.challenge
                if handshake:
                    await raw.send_frame(OPCODE_TEXT, connect_frame().encode())
                    await raw.receive()  # hello-ok
                await raw.send_frame(OPCODE_TEXT, b'{"type":"req","id":"\xff\xfe","method":"health"}')
                code, _ = await raw.wait_closed()
        finally:
            await raw.aclose()
        assert (code, raw.close_reason) == (1007, "invalid UTF-8")
        assert (await bystander.call("health"))["ok"] is True


def _tracked(instance: str) -> str:
    client = {"id": "test", "version": "1.0", "platform": "linux", "mode": "test", "instanceId": instance}
    return connect_frame(client=client)


async def test_hello_ok_presence_is_the_registry_as_it_is_now(raw, gateway):
    """hello-ok's presence list reuses each entry's JSON form while the entry is unchanged
    (``PresenceRegistry.wire``): the text is the one ``encode_frame`` gives, and a changed entry shows."""
    runtime = await gateway.current_runtime()
    async with raw() as one, raw() as two:
        await one.send(_tracked("inst-one"))
        await one.response("c1")
        await two.send(_tracked("inst-two"))
        first = (await two.response("c1"))["payload"]
        assert {"inst-one", "inst-two"} <= {entry.get("instanceId") for entry in first["snapshot"]["presence"]}
        await one.send(json.dumps({"type": "req", "id": "e1", "method": "system-event",
                                   "params": {"text": "changed text", "instanceId": "inst-one"}}))
        assert (await one.response("e1"))["ok"]
        async with raw() as three:
            await three.send(_tracked("inst-three"))
            payload = (await three.response("c1"))["payload"]
    by_instance = {entry.get("instanceId"): entry for entry in payload["snapshot"]["presence"]}
    assert by_instance["inst-one"]["text"] == "changed text"
    hello = structure(payload, HelloOk, what="hello-ok")
    for _ in range(2):  # the second time from the cache
        assert hello_text(runtime.presence, "r", hello) == encode_frame(ResponseFrame(id="r", ok=True, payload=hello))

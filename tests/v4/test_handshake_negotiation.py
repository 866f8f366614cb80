"""Version negotiation over {3, 4, 7}, the challenge, and hello-ok per version, over real sockets."""

from __future__ import annotations

import uuid

import pytest
import trio

from moltbot.config.model import CanvasHostConfig, GatewayConfig
from moltbot.gateway.app import open_gateway
from moltbot.protocol import CHALLENGE_CAPABILITIES, SUPPORTED_PROTOCOLS, ClientHandshake
from tests.conftest import open_raw
from tests.v4.handshake_support import CLIENT_KINDS, connect_params, request

# Client range → the version served (None: protocol mismatch). 5 and 6 are not versions.
NEGOTIATION = [
    ((3, 3), 3), ((4, 4), 4), ((7, 7), 7), ((3, 7), 7), ((3, 4), 4), ((3, 5), 4), ((3, 6), 4), ((4, 6), 4),
    ((4, 7), 7), ((1, 99), 7), ((1, 3), 3), ((5, 7), 7), ((5, 5), None), ((6, 6), None), ((5, 6), None),
    ((1, 2), None), ((8, 9), None),
]


@pytest.mark.parametrize(("offered", "expected"), NEGOTIATION)
async def test_negotiation_serves_the_highest_of_3_4_7_inside_the_range(gateway, offered, expected):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params(offered)))
        response = await ws.response("c1")
        if expected is not None:
            assert response["ok"] and response["payload"]["protocol"] == expected
            return
        assert response["error"] == {"code": "INVALID_REQUEST", "message": "protocol mismatch", "details": {
            "code": "PROTOCOL_MISMATCH", "clientMinProtocol": offered[0], "clientMaxProtocol": offered[1],
            "expectedProtocol": 4, "minimumProbeProtocol": 3, "supportedProtocols": [3, 4, 7]}}
        assert await ws.closed() == (1002, "protocol mismatch")


def test_supported_protocols_are_3_4_7():
    assert SUPPORTED_PROTOCOLS == (3, 4, 7)


async def test_challenge_is_the_same_before_every_version(gateway):
    """Sent before the version is known: nonce (a UUID), ts, capabilities (the constant) for everyone."""
    for offered in ((3, 3), (4, 4), (7, 7)):
        async with open_raw(gateway.url) as ws:
            payload = ws.challenge["payload"]
            assert set(payload) == {"nonce", "ts", "capabilities"}
            assert payload["capabilities"] == list(CHALLENGE_CAPABILITIES)
            uuid.UUID(payload["nonce"])
            await ws.send(request(connect_params(offered)))
            assert (await ws.response("c1"))["ok"]


@pytest.mark.parametrize("protocol", [3, 4, 7])
@pytest.mark.parametrize(("client_id", "mode", "role"), [kind for kind in CLIENT_KINDS if kind[2] == "operator"])
async def test_every_operator_kind_connects_at_every_version(gateway, protocol, client_id, mode, role):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params((protocol, protocol), client_id=client_id, mode=mode, role=role,
                                             scopes=["operator.read"])))
        response = await ws.response("c1")
    assert response["ok"], response
    assert response["payload"]["protocol"] == protocol
    assert ("auth" in response["payload"]) == (protocol == 4)  # device-less: 3 and 7 have no auth block


HELLO_3_AND_7_KEYS = {"type", "protocol", "server", "features", "snapshot", "policy"}


@pytest.mark.parametrize("protocol", [3, 7])
async def test_hello_ok_at_3_and_7_keeps_its_shape(gateway, protocol):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params((protocol, protocol), scopes=["operator.read"])))
        hello = (await ws.response("c1"))["payload"]
    assert set(hello) == HELLO_3_AND_7_KEYS
    assert set(hello["server"]) <= {"version", "connId", "commit", "host"}
    assert set(hello["features"]) == {"methods", "events"}
    assert set(hello["policy"]) == {"maxPayload", "maxBufferedBytes", "tickIntervalMs"}
    assert "authMode" not in hello["snapshot"]


async def test_hello_ok_at_4_has_protocol_4s_fields(gateway):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params((4, 4), scopes=["operator.read", "operator.write"])))
        hello = (await ws.response("c1"))["payload"]
    assert hello["auth"] == {"role": "operator", "scopes": ["operator.read", "operator.write"], "method": "token"}
    assert set(hello["server"]) == {"version", "connId", "buildId", "bootId"}
    uuid.UUID(hello["server"]["bootId"])
    assert hello["features"]["capabilities"] == []
    config = gateway.config.gateway
    assert hello["policy"] == {"maxPayload": config.max_payload, "maxBufferedBytes": config.max_buffered_bytes,
                               "tickIntervalMs": config.tick_interval_ms,
                               "attachments": {"maxBytes": config.max_payload * 3 // 4,
                                               "maxImageBytes": config.max_payload * 3 // 4}}
    snapshot = hello["snapshot"]
    assert snapshot["authMode"] == "token"
    assert {"sessionDefaults", "configPath", "stateDir"} <= set(snapshot)
    assert "canvasHostUrl" not in hello and "pluginSurfaceUrls" not in hello  # the canvas host is off here
    assert "linkChannel" not in snapshot["health"]


async def test_boot_id_is_one_per_process(gateway):
    boot_ids = set()
    for _ in range(2):
        async with open_raw(gateway.url) as ws:
            await ws.send(request(connect_params((4, 4), scopes=["operator.read"])))
            boot_ids.add((await ws.response("c1"))["payload"]["server"]["bootId"])
    assert len(boot_ids) == 1


def test_handshake_timeout_defaults_to_protocol_4s_15_s():
    assert GatewayConfig().handshake_timeout_ms == 15_000


async def test_canvas_url_is_plugin_surface_urls_at_4_and_canvas_host_url_at_3_and_7(make_config, tmp_path):
    """Protocol 4's one breaking change: ``canvasHostUrl`` became ``pluginSurfaceUrls.canvas``."""
    config = make_config(canvas_host=CanvasHostConfig(root=str(tmp_path / "canvas")))
    with trio.fail_after(20):
        async with open_gateway(config, port=0, env={}) as gateway:
            seen = {}
            for protocol in (3, 4, 7):
                async with open_raw(gateway.url) as ws:
                    await ws.send(request(connect_params((protocol, protocol), scopes=["operator.read"])))
                    hello = (await ws.response("c1"))["payload"]
                seen[protocol] = (hello.get("canvasHostUrl"), hello.get("pluginSurfaceUrls"))
            url = gateway.canvas.url
    assert url
    assert seen == {3: (url, None), 4: (None, {"canvas": url}), 7: (url, None)}


def test_the_client_reads_a_newer_servers_hello_ok():
    """OpenClaw 2026.9.6's hello-ok has fields we lack (controlUi*, suspension, recoveryScope, a null
    appliedConfigHash): the client handshake reads what it knows instead of refusing the server."""
    handshake = ClientHandshake({"minProtocol": 4, "maxProtocol": 4})
    handshake.receive({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 1,
                                                                                  "capabilities": ["x"]}})
    hello = {"type": "hello-ok", "protocol": 4,
             "server": {"version": "2026.9.6", "connId": "c", "buildId": "b", "bootId": "u",
                        "controlUiBuildSource": "bundled"},
             "features": {"methods": ["health"], "events": ["tick"], "capabilities": ["profile-binding-v1"]},
             "snapshot": {"presence": [{"ts": 1, "clientId": "cli"}], "health": {}, "uptimeMs": 5,
                          "stateVersion": {"presence": 1, "health": 1}, "appliedConfigHash": None,
                          "suspension": {"phase": "accepting"}},
             "policy": {"maxPayload": 1, "maxBufferedBytes": 1, "tickIntervalMs": 1,
                        "allowedSessionVisibilities": ["shared"]},
             "auth": {"role": "operator", "scopes": [], "method": "token", "recoveryScope": "opaque"},
             "controlUiWidgetKinds": [], "pluginSurfaceUrls": {"canvas": "http://127.0.0.1:1/x"}}
    result = handshake.receive({"type": "res", "id": "connect", "ok": True, "payload": hello})
    assert result.protocol == 4 and result.auth.method == "token"
    assert result.plugin_surface_urls == {"canvas": "http://127.0.0.1:1/x"}

"""Which scopes a connection holds after connect, by protocol version and client kind.

A held scope is observed through what the connection may call: ``status`` needs ``operator.read``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from moltbot.config.model import ControlUiConfig
from moltbot.gateway.app import open_gateway
from moltbot.protocol._device import DeviceKeyPair, sign_connect
from tests.conftest import connect_frame, open_raw

ALLOWED = "https://app.example"


def kind(client_id: str, mode: str) -> dict[str, str]:
    return {"id": client_id, "version": "1", "platform": "linux", "mode": mode}


async def status_with(url: str, protocol: int, client: dict[str, str], scopes: list[str] | None,
                      headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The response to ``status`` on a fresh device-less connection."""
    with trio.fail_after(10):
        async with open_raw(url, handshake=True, minProtocol=protocol, maxProtocol=protocol, client=client,
                            scopes=scopes, extra_headers=headers) as ws:
            return await ws.call("status", {})


async def test_protocol_4_grants_no_scope_that_was_not_asked_for(gateway):
    refused = await status_with(gateway.url, 4, kind("cli", "cli"), None)
    assert refused["error"]["code"] == "FORBIDDEN"
    assert refused["error"]["message"] == "missing scope: operator.read"


@pytest.mark.parametrize("protocol", [3, 7])
async def test_protocols_3_and_7_grant_admin_to_an_operator_asking_none(gateway, protocol):
    assert (await status_with(gateway.url, protocol, kind("test", "test"), None))["ok"]


@pytest.mark.parametrize(("client", "kept"), [
    (kind("cli", "cli"), True), (kind("gateway-client", "backend"), True), (kind("test", "test"), False),
    (kind("cli", "probe"), False), (kind("openclaw-probe", "probe"), False),
], ids=["cli-cli", "gateway-client-backend", "test-test", "cli-probe", "openclaw-probe"])
async def test_protocol_4_device_less_scopes_are_cleared_but_for_two_local_kinds(gateway, client, kept):
    response = await status_with(gateway.url, 4, client, ["operator.read"])
    assert response["ok"] is kept, response


async def test_protocol_7_device_less_local_clients_keep_their_scopes(gateway):
    assert (await status_with(gateway.url, 7, kind("test", "test"), ["operator.read"]))["ok"]


@pytest.mark.parametrize("protocol", [4, 7])
async def test_a_browser_origin_clears_device_less_scopes_even_for_cli(make_config, protocol):
    config = make_config(control_ui=ControlUiConfig(enabled=False, allowed_origins=[ALLOWED]))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            response = await status_with(gateway.url, protocol, kind("cli", "cli"), ["operator.read"],
                                         headers=[("Origin", ALLOWED)])
    assert response["error"]["message"] == "missing scope: operator.read"


async def test_protocol_4_drops_scope_strings_outside_the_closed_set(gateway):
    client = {**kind("gateway-client", "backend"), "instanceId": "scopes-probe"}
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True, minProtocol=4, maxProtocol=4, client=client,
                            scopes=["operator.read", "operator.bogus", "anything"]) as ws:
            presence = await ws.call("system-presence", {})
    entry = next(e for e in presence["payload"] if e.get("instanceId") == "scopes-probe")
    assert entry["scopes"] == ["operator.read"]


async def test_protocol_4_paired_device_holds_the_scopes_it_was_paired_for(gateway):
    """A device on loopback is paired silently for what it asks; it holds exactly that (no admin)."""
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with open_raw(gateway.url) as ws:
            params = json.loads(connect_frame(minProtocol=4, maxProtocol=4, client=kind("test", "test"),
                                              scopes=["operator.read"]))["params"]
            params["device"] = sign_connect(key, params, nonce=ws.challenge["payload"]["nonce"])
            await ws.send({"type": "req", "id": "c1", "method": "connect", "params": params})
            assert (await ws.response("c1"))["ok"]
            status = await ws.call("status", {})
            denied = await ws.call("config.set", {"raw": "{}"}, request_id="r2")
    assert status["ok"]
    assert denied["error"]["code"] == "FORBIDDEN"

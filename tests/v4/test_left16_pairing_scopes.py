"""Pairing compares scopes by protocol 4's implication (``_scopes.satisfies``: admin covers every
``operator.*``, write covers read and talk), as OpenClaw's ``resolveMissingRequestedScope`` does; and a
``device.token.rotate`` beyond the caller's scopes is refused at 4 as OpenClaw refuses it."""

from __future__ import annotations

import pytest
import trio

from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import open_raw
from tests.nodes.helpers import REMOTE
from tests.v4.handshake_support import connect_params, request, signed


async def _device_connect(url: str, key: DeviceKeyPair, scopes: list[str], *, headers=None) -> dict:
    with trio.fail_after(10):
        async with open_raw(url, extra_headers=headers) as ws:
            params = connect_params((4, 4), scopes=scopes)
            await ws.send(request(signed(params, key, ws.challenge["payload"]["nonce"])))
            return await ws.response("c1")


@pytest.mark.parametrize(("paired", "asked"), [
    (["operator.admin"], ["operator.read", "operator.approvals"]),
    (["operator.write"], ["operator.read", "operator.talk"]),
])
async def test_a_device_paired_with_a_wider_scope_needs_no_scope_upgrade(gateway, paired, asked):
    key = DeviceKeyPair.generate()
    assert (await _device_connect(gateway.url, key, paired))["ok"]  # loopback: paired silently
    remote = await _device_connect(gateway.url, key, asked, headers=REMOTE)
    assert remote["ok"], remote
    assert gateway.runtime.nodes.devices.pending() == []


async def test_a_scope_beyond_the_pairing_still_needs_a_scope_upgrade(gateway):
    key = DeviceKeyPair.generate()
    assert (await _device_connect(gateway.url, key, ["operator.write"]))["ok"]
    remote = await _device_connect(gateway.url, key, ["operator.approvals"], headers=REMOTE)
    assert remote["error"]["details"]["code"] == "PAIRING_REQUIRED"
    assert remote["error"]["details"]["reason"] == "scope-upgrade"


async def _rotate(gateway, protocol: int, caller: list[str], scopes: list[str]) -> dict:
    key = DeviceKeyPair.generate()
    assert (await _device_connect(gateway.url, key, ["operator.read"]))["ok"]
    cli = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True, minProtocol=protocol, maxProtocol=protocol, client=cli,
                            scopes=caller) as ws:
            return await ws.call("device.token.rotate", {"deviceId": key.device_id, "role": "operator",
                                                         "scopes": scopes})


async def test_rotate_to_a_scope_the_callers_write_implies_is_allowed(gateway):
    rotated = await _rotate(gateway, 4, ["operator.pairing", "operator.write"], ["operator.talk"])
    assert rotated["ok"], rotated
    assert rotated["payload"]["scopes"] == ["operator.talk"]


async def test_rotate_beyond_the_callers_scopes_at_4_is_denied_as_openclaw(gateway):
    rotated = await _rotate(gateway, 4, ["operator.pairing"], ["operator.admin"])
    assert rotated["error"] == {"code": "INVALID_REQUEST", "message": "device token rotation denied"}


@pytest.mark.parametrize("protocol", [3, 7])
async def test_rotate_beyond_the_callers_scopes_at_3_and_7_names_the_scope(gateway, protocol):
    rotated = await _rotate(gateway, protocol, ["operator.pairing"], ["operator.admin"])
    assert rotated["error"]["message"] == "missing scope: operator.admin"


async def _revoke(gateway, protocol: int, caller: list[str]) -> tuple[dict, DeviceKeyPair]:
    key = DeviceKeyPair.generate()
    assert (await _device_connect(gateway.url, key, ["operator.admin"]))["ok"]
    cli = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True, minProtocol=protocol, maxProtocol=protocol, client=cli,
                            scopes=caller) as ws:
            return await ws.call("device.token.revoke", {"deviceId": key.device_id, "role": "operator"}), key


@pytest.mark.parametrize(("protocol", "message"), [(4, "device token revocation denied"),
                                                   (7, "missing scope: operator.admin")])
async def test_revoking_a_token_beyond_the_callers_scopes_is_denied(gateway, protocol, message):
    revoked, key = await _revoke(gateway, protocol, ["operator.pairing"])
    assert revoked["error"] == {"code": "INVALID_REQUEST", "message": message}
    token = gateway.runtime.nodes.devices.paired(key.device_id)["tokens"]["operator"]
    assert "revokedAtMs" not in token


async def test_an_admin_caller_may_revoke_it(gateway):
    revoked, _ = await _revoke(gateway, 4, ["operator.pairing", "operator.admin"])
    assert revoked["ok"], revoked

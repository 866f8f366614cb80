"""``device.pair.list`` rows say how each device was approved (OpenClaw's ``approvedVia``): ``silent`` when a
local client was paired on the spot, ``owner`` when an operator approved it with ``device.pair.approve``;
the owner's approval stands over a later silent one, and a store written before the field existed loads
(its rows have none)."""

from __future__ import annotations

import json

import trio

from moltbot.gateway.app import open_gateway
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import open_raw
from tests.nodes.helpers import REMOTE
from tests.v4.handshake_support import connect_params, request, signed

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


async def _device_connect(url: str, key: DeviceKeyPair, scopes: list[str], *, headers=None) -> dict:
    async with open_raw(url, extra_headers=headers) as ws:
        await ws.send(request(signed(connect_params((4, 4), scopes=scopes), key, ws.challenge["payload"]["nonce"])))
        return await ws.response("c1")


async def _rows(url: str, call=None) -> dict[str, dict]:
    async with open_raw(url, handshake=True, minProtocol=4, maxProtocol=4, client=CLI,
                        scopes=["operator.pairing", "operator.admin"]) as ws:
        if call is not None:
            assert (await ws.call(*call, request_id="decide"))["ok"]
        listed = await ws.call("device.pair.list", {})
    return {row["deviceId"]: row for row in listed["payload"]["paired"]}


async def test_silent_and_owner_approvals_are_reported(gateway):
    local, remote = DeviceKeyPair.generate(), DeviceKeyPair.generate()
    with trio.fail_after(20):
        assert (await _device_connect(gateway.url, local, ["operator.read"]))["ok"]
        refused = await _device_connect(gateway.url, remote, ["operator.read"], headers=REMOTE)
        rows = await _rows(gateway.url, ("device.pair.approve", {"requestId": refused["error"]["details"]["requestId"]}))
        # a later silent upgrade of the owner-approved device keeps "owner"
        assert (await _device_connect(gateway.url, remote, ["operator.write"]))["ok"]
        after = await _rows(gateway.url)
    assert rows[local.device_id]["approvedVia"] == "silent"
    assert rows[remote.device_id]["approvedVia"] == "owner"
    assert after[remote.device_id]["approvedVia"] == "owner"
    assert after[remote.device_id]["scopes"] == ["operator.read", "operator.write"]


async def test_a_store_without_approved_via_loads_and_reports_none(config):
    key = DeviceKeyPair.generate()
    with trio.fail_after(20):
        async with open_gateway(config, port=0, env={}) as gateway:
            assert (await _device_connect(gateway.url, key, ["operator.read"]))["ok"]
        paired = config.state_dir / "devices" / "paired.json"
        records = json.loads(paired.read_text())
        for record in records.values():
            record.pop("approvedVia")
        paired.write_text(json.dumps(records))
        async with open_gateway(config, port=0, env={}) as gateway:
            rows = await _rows(gateway.url)
    assert "approvedVia" not in rows[key.device_id]

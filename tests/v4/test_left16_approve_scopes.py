"""``device.pair.approve`` needs the caller to hold the operator scopes the device asked for (by protocol
4's implication), as OpenClaw requires: a pairing-scoped operator cannot pair an admin device."""

from __future__ import annotations

import trio

from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import open_raw
from tests.nodes.helpers import REMOTE
from tests.v4.handshake_support import connect_params, request, signed

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


async def _pairing_request(url: str, scopes: list[str]) -> str:
    async with open_raw(url, extra_headers=REMOTE) as ws:
        params = connect_params((4, 4), scopes=scopes)
        await ws.send(request(signed(params, DeviceKeyPair.generate(), ws.challenge["payload"]["nonce"])))
        return (await ws.response("c1"))["error"]["details"]["requestId"]


async def _approve(url: str, caller: list[str], request_id: str) -> dict:
    async with open_raw(url, handshake=True, minProtocol=4, maxProtocol=4, client=CLI, scopes=caller) as ws:
        return await ws.call("device.pair.approve", {"requestId": request_id})


async def test_a_pairing_scoped_operator_cannot_approve_an_admin_device(gateway):
    with trio.fail_after(20):
        request_id = await _pairing_request(gateway.url, ["operator.admin"])
        refused = await _approve(gateway.url, ["operator.pairing"], request_id)
        still_pending = [r["requestId"] for r in gateway.runtime.nodes.devices.pending()]
        approved = await _approve(gateway.url, ["operator.pairing", "operator.admin"], request_id)
    assert refused["error"] == {"code": "INVALID_REQUEST", "message": "missing scope: operator.admin"}
    assert still_pending == [request_id]
    assert approved["ok"], approved


async def test_scopes_the_caller_implies_may_be_approved(gateway):
    with trio.fail_after(20):
        request_id = await _pairing_request(gateway.url, ["operator.read", "operator.talk"])
        approved = await _approve(gateway.url, ["operator.pairing", "operator.write"], request_id)
    assert approved["ok"], approved

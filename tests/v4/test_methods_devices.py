"""``device.pair.list`` rows say whether the device is connected and when it last connected (protocol 4's
``connected``/``lastSeenAtMs``), as ``openclaw devices list`` shows them."""

from __future__ import annotations

import trio

from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import open_raw
from tests.nodes.helpers import signed_connect, wait_until
from tests.v4.test_methods_cron import call, check, operator


async def test_paired_rows_say_connected_and_last_seen(gateway):
    key = DeviceKeyPair.generate()
    with trio.fail_after(30):
        async with open_raw(gateway.url) as first:  # a local device: paired silently, gets its token
            await first.send(signed_connect(key, first.challenge["payload"]["nonce"]))
            token = (await first.response("c1"))["payload"]["auth"]["deviceToken"]
        async with operator(gateway) as ws:
            async with open_raw(gateway.url) as device:
                await device.send(signed_connect(key, device.challenge["payload"]["nonce"], token=token))
                assert (await device.response("c1"))["ok"]
                online = await call(ws, "device.pair.list", {})

            async def offline() -> bool:
                listed = await call(ws, "device.pair.list", {})
                return listed["paired"][0]["connected"] is False

            await wait_until(offline)
    (row,) = online["paired"]
    assert row["deviceId"] == key.device_id and row["connected"] is True
    assert isinstance(row["lastSeenAtMs"], int) and row["lastSeenAtMs"] > 0


async def test_device_token_rotate_result_validates(gateway, openclaw_schema):
    key = DeviceKeyPair.generate()
    with trio.fail_after(30):
        async with open_raw(gateway.url) as first:  # paired silently for role node
            await first.send(signed_connect(key, first.challenge["payload"]["nonce"]))
            assert (await first.response("c1"))["ok"]
        params = {"deviceId": key.device_id, "role": "node"}
        check(openclaw_schema, "DeviceTokenRotateParams", params)
        async with operator(gateway) as ws:
            rotated = await call(ws, "device.token.rotate", params)
    check(openclaw_schema, "DeviceTokenRotateResult", rotated)

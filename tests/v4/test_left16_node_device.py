"""A ``node`` without a device identity at protocol 4 is refused as OpenClaw refuses it
(NOT_PAIRED "device identity required", DEVICE_IDENTITY_REQUIRED, close 1008); 3 and 7 still admit it with
the shared token, and a wrong token is still "unauthorized" first."""

from __future__ import annotations

import pytest
import trio

from tests.conftest import open_raw
from tests.v4.handshake_support import connect_params, request


async def _connect(url: str, params: dict) -> tuple[dict, tuple[int, str] | None]:
    with trio.fail_after(10):
        async with open_raw(url) as ws:
            await ws.send(request(params))
            response = await ws.response("c1")
            return response, (None if response["ok"] else await ws.closed())


def _node(protocol: int, **kwargs) -> dict:
    return connect_params((protocol, protocol), client_id="node-host", mode="node", role="node", **kwargs)


async def test_deviceless_node_at_protocol_4_is_refused_device_identity_required(gateway):
    response, closed = await _connect(gateway.url, _node(4))
    assert not response["ok"]
    assert response["error"]["code"] == "NOT_PAIRED"
    assert response["error"]["message"] == "device identity required"
    assert response["error"]["details"]["code"] == "DEVICE_IDENTITY_REQUIRED"
    assert closed == (1008, "device identity required")


async def test_deviceless_node_with_a_wrong_token_at_protocol_4_is_unauthorized(gateway):
    response, closed = await _connect(gateway.url, _node(4, auth={"token": "wrong"}))
    assert not response["ok"]
    assert response["error"]["message"].startswith("unauthorized: ")
    assert closed is not None and closed[0] == 1008


@pytest.mark.parametrize("protocol", [3, 7])
async def test_deviceless_node_with_the_token_at_protocol_3_and_7_is_admitted(gateway, protocol):
    response, _ = await _connect(gateway.url, _node(protocol))
    assert response["ok"], response
    assert response["payload"]["protocol"] == protocol


async def test_deviceless_operator_with_the_token_at_protocol_4_is_admitted(gateway):
    response, _ = await _connect(gateway.url, connect_params((4, 4), scopes=["operator.read"]))
    assert response["ok"], response

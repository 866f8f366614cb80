"""Request frames at every version: ``traceparent`` (≤ 128 characters) accepted, longer an invalid frame;
an empty ``id`` answered ``"invalid"`` at every version (not OpenClaw's schema-invalid ``""``). Over real sockets."""

from __future__ import annotations

import pytest

from tests.conftest import open_raw
from tests.v4.handshake_support import connect_params, request


@pytest.mark.parametrize("protocol", [3, 4, 7])
async def test_traceparent_is_accepted_on_requests(gateway, protocol):
    async with open_raw(gateway.url) as ws:
        connect = request(connect_params((protocol, protocol), scopes=["operator.read"]))
        await ws.send(connect.replace('"method": "connect"', '"method": "connect", "traceparent": "00-ab-cd-01"'))
        assert (await ws.response("c1"))["ok"]
        traced = {"type": "req", "id": "h1", "method": "health", "traceparent": "t" * 128}
        await ws.send(traced)
        assert (await ws.response("h1"))["ok"]
        await ws.send({**traced, "id": "h2", "traceparent": "not a trace context"})
        assert (await ws.response("h2"))["ok"]  # malformed but short: ignored, as OpenClaw does


@pytest.mark.parametrize("protocol", [3, 4, 7])
async def test_traceparent_over_128_characters_is_an_invalid_frame(gateway, protocol):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params((protocol, protocol), scopes=["operator.read"])))
        assert (await ws.response("c1"))["ok"]
        await ws.send({"type": "req", "id": "h1", "method": "health", "traceparent": "t" * 129})
        error = (await ws.response("h1"))["error"]
    assert error == {"code": "INVALID_REQUEST",
                     "message": "invalid request frame: at /traceparent: must NOT have more than 128 characters"}


async def test_a_connect_with_a_too_long_traceparent_is_not_a_request_frame(gateway):
    async with open_raw(gateway.url) as ws:
        connect = request(connect_params((4, 4)))
        await ws.send(connect.replace('"method": "connect"', f'"method": "connect", "traceparent": "{"t" * 129}"'))
        assert await ws.closed() == (1008, "invalid request frame")


@pytest.mark.parametrize(("protocol", "answered"), [(3, "invalid"), (4, "invalid"), (7, "invalid")])
async def test_an_empty_id_is_answered_per_version(gateway, protocol, answered):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params((protocol, protocol), scopes=["operator.read"])))
        assert (await ws.response("c1"))["ok"]
        await ws.send({"type": "req", "id": "", "method": "health"})
        response = await ws.response(answered)
    assert response["error"] == {"code": "INVALID_REQUEST",
                                 "message": "invalid request frame: at /id: must NOT have fewer than 1 characters"}


@pytest.mark.parametrize("protocol", [3, 4, 7])
async def test_a_missing_id_is_answered_invalid_at_every_version(gateway, protocol):
    async with open_raw(gateway.url) as ws:
        await ws.send(request(connect_params((protocol, protocol), scopes=["operator.read"])))
        assert (await ws.response("c1"))["ok"]
        await ws.send({"type": "req", "method": "health"})
        assert not (await ws.response("invalid"))["ok"]

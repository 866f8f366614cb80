"""After hello-ok: a request beyond the parser's limits is answered with its id; every error is short.

Over real loopback WebSockets (issue 15, requirement 1's post-auth bound and requirement 10).
"""

from __future__ import annotations

import json

import pytest
import trio


@pytest.fixture
def config(make_config):
    """Today's OpenClaw limits (25 MiB frames), under which the issue measured these frames."""
    return make_config(max_payload=26_214_400, max_buffered_bytes=52_428_800)


DEEP = "[" * 100_000 + "]" * 100_000
TOO_DEEP = "invalid request frame: nesting deeper than 128 levels"


def _request(request_id: str, method: str, params: str) -> str:
    return f'{{"type":"req","id":"{request_id}","method":"{method}","params":{params}}}'


async def test_request_nested_100000_deep_is_answered_invalid_request_with_its_id(raw, client):
    async with client() as bystander:
        async with raw(handshake=True) as ws:
            await ws.send(_request("deep", "health", DEEP))
            with trio.fail_after(10):
                response = await ws.response("deep")
            assert (await ws.call("health"))["ok"] is True
        assert (await bystander.call("health"))["ok"] is True
    assert response["ok"] is False
    assert response["error"] == {"code": "INVALID_REQUEST", "message": TOO_DEEP}


async def test_nesting_limit_is_128_levels_counting_the_frame(raw):
    def nested(levels: int) -> str:  # params nesting ``levels`` arrays: the frame adds one level
        return _request(f"n{levels}", "health", "[" * levels + "]" * levels)

    async with raw(handshake=True) as ws:
        await ws.send(nested(127))
        await ws.send(nested(128))
        with trio.fail_after(10):
            accepted, refused = await ws.response("n127"), await ws.response("n128")
    assert accepted["error"]["message"] != TOO_DEEP  # parsed, then refused as health params
    assert refused["error"]["message"] == TOO_DEEP


async def test_request_with_a_10000_digit_integer_is_answered_with_its_id(raw):
    async with raw(handshake=True) as ws:
        await ws.send(_request("big", "sessions.preview", '{"keys":["a"],"limit":' + "9" * 10_000 + "}"))
        with trio.fail_after(10):
            response = await ws.response("big")
    assert response["error"] == {"code": "INVALID_REQUEST",
                                 "message": "invalid request frame: integer of more than 4300 digits"}


async def test_id_after_too_deep_params_is_answered_as_invalid(raw):
    """The parser gave up before the id: the request is still answered (with the id ``"invalid"``)."""
    async with raw(handshake=True) as ws:
        await ws.send('{"type":"req","method":"health","params":' + DEEP + ',"id":"late"}')
        with trio.fail_after(10):
            response = await ws.response("invalid")
    assert response["error"]["message"] == TOO_DEEP


async def test_sessions_preview_with_100000_invalid_keys_gets_a_short_error(raw, client):
    async with client() as bystander:
        async with raw(handshake=True) as ws:
            response = await ws.call("sessions.preview", {"keys": [0] * 100_000}, request_id="many")
        assert (await bystander.call("health"))["ok"] is True
    message = response["error"]["message"]
    assert message.startswith("invalid sessions.preview params: at /keys/0: must be string (got integer); ")
    assert message.count("must be string") == 5 and message.endswith("; …")
    assert len(json.dumps(response)) < 1024


async def test_100000_unexpected_properties_get_a_short_error(raw):
    params = {"keys": ["a"], **{f"x{i:06}": 0 for i in range(100_000)}}
    async with raw(handshake=True) as ws:
        response = await ws.call("sessions.preview", params, request_id="extra")
    assert response["error"]["message"] == ("invalid sessions.preview params: " + "; ".join(
        f"at root: unexpected property 'x{i:06}'" for i in range(5)) + "; …")


async def test_request_with_a_number_beyond_a_double_is_answered_with_its_id(raw):
    """``1e999`` was read as ``inf`` and would have gone back out as ``Infinity``, which no client parses."""
    async with raw(handshake=True) as ws:
        await ws.send(_request("huge", "sessions.preview", '{"keys":["a"],"limit":1e999}'))
        with trio.fail_after(10):
            response = await ws.response("huge")
        assert (await ws.call("health"))["ok"] is True
    assert response["error"] == {"code": "INVALID_REQUEST", "message": "invalid request frame: number out of range"}

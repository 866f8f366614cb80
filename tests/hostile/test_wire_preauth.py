"""Before hello-ok nobody has shown a credential: a first frame costs us little and earns a small answer.

Over real loopback WebSockets (issue 15, requirement 1 and the handshake half of requirement 10).
"""

from __future__ import annotations

import json

import trio

from tests.conftest import connect_frame


def _connect_named(display_name: str) -> str:
    return connect_frame(client={"id": "test", "version": "1", "platform": "linux", "mode": "test",
                                 "displayName": display_name})


def _padded_connect(size: int) -> str:
    """A valid first ``connect`` of exactly ``size`` bytes (padded in ``client.displayName``)."""
    return _connect_named("a" * (size - len(_connect_named("").encode())))


async def test_first_frame_over_64_kib_closes_1009_before_it_is_parsed(raw):
    async with raw() as ws:  # one byte over: refused unparsed (it is a valid connect otherwise)
        await ws.send(_padded_connect(65537))
        with trio.fail_after(10):
            assert await ws.closed() == (1009, "preauth payload too large")
    async with raw() as ws:  # counted in UTF-8 bytes: 33,000 "é" are 66,000 bytes
        text = _connect_named("é" * 33_000).replace("\\u00e9", "é")
        assert len(text) < 65536 < len(text.encode())
        await ws.send(text)
        with trio.fail_after(10):
            assert await ws.closed() == (1009, "preauth payload too large")
    async with raw() as ws:  # 64 KiB exactly is a connect like any other
        await ws.send(_padded_connect(65536))
        with trio.fail_after(10):
            assert (await ws.response("c1"))["ok"] is True


async def test_a_stranger_cannot_make_the_gateway_buffer_more_than_64_kib(raw, gateway):
    """hypercorn itself stops buffering a first message at 64 KiB (not ``maxPayload``: 512 KiB), with the
    same close; once authenticated, messages up to ``maxPayload`` are read."""
    from moltbot.conformance._wire import OPCODE_TEXT, RawWebSocket

    stranger = await RawWebSocket.connect(gateway.url)
    try:
        with trio.fail_after(10):
            await stranger.receive()  # connect.challenge
            # Half a message of 100 KiB: before, hypercorn kept it and waited for the rest (up to 512 KiB).
            await stranger.send_frame(OPCODE_TEXT, b"x" * 100_000, fin=False)
            assert (await stranger.wait_closed())[0] == 1009
        assert stranger.close_reason == "preauth payload too large"
    finally:
        stranger.abort()
    async with raw(handshake=True) as ws:
        reply = await ws.call("health", {"x": "a" * 400_000})
        assert reply["ok"] is False and "x" in reply["error"]["message"]  # read whole, then refused by name
    async with raw() as ws:  # the limit is per connection: the one above did not lift it for strangers
        await ws.send("x" * 400_000)
        with trio.fail_after(10):
            assert await ws.closed() == (1009, "preauth payload too large")


async def test_first_connect_with_10000_invalid_scopes_gets_a_short_error(raw, client):
    async with client() as bystander:
        async with raw() as ws:
            await ws.send(connect_frame(scopes=[0] * 10_000))
            with trio.fail_after(10):
                error = (await ws.response("c1"))["error"]
                code, _ = await ws.closed()
        assert (await bystander.call("health"))["ok"] is True
    assert code == 1008
    assert error["code"] == "INVALID_REQUEST"
    assert error["message"] == ("invalid connect params: at /scopes/0: must be string (got integer); "
                                "at /scopes/1: must be string (got integer); at /scopes/2: must be string "
                                "(got integer); at /scopes/3: must be string (got integer); at /scopes/4: "
                                "must be string (got integer); …")


async def test_first_connect_with_many_unexpected_properties_names_five(raw):
    async with raw() as ws:
        await ws.send(connect_frame(**{f"x{i:05}": 0 for i in range(5_000)}))
        with trio.fail_after(10):
            message = (await ws.response("c1"))["error"]["message"]
    assert message == ("invalid connect params: " + "; ".join(
        f"at root: unexpected property 'x{i:05}'" for i in range(5)) + "; …")


async def test_long_property_names_are_cut_in_the_error(raw):
    async with raw() as ws:
        await ws.send(connect_frame(**{"k" * 30_000: 0}))
        with trio.fail_after(10):
            response = await ws.response("c1")
    assert response["error"]["message"] == f"invalid connect params: at root: unexpected property '{'k' * 39}…'"


async def test_first_connect_nested_too_deep_gets_an_error_and_a_close(raw):
    async with raw() as ws:
        await ws.send('{"type":"req","id":"c1","method":"connect","params":' + "[" * 20_000 + "]" * 20_000 + "}")
        with trio.fail_after(10):
            response = await ws.response("c1")
            closed = await ws.closed()
    assert response["error"] == {"code": "INVALID_REQUEST",
                                 "message": "invalid request frame: nesting deeper than 128 levels"}
    assert closed == (1008, "invalid request frame: nesting deeper than 128 levels")


async def test_first_connect_with_a_10000_digit_integer_gets_an_error_and_a_close(raw):
    frame = connect_frame().replace('"minProtocol": 3', '"minProtocol": ' + "9" * 10_000)
    async with raw() as ws:
        await ws.send(frame)
        with trio.fail_after(10):
            response = await ws.response("c1")
            closed = await ws.closed()
    assert response["error"] == {"code": "INVALID_REQUEST",
                                 "message": "invalid request frame: integer of more than 4300 digits"}
    assert closed == (1008, "invalid request frame: integer of more than 4300 digits")


async def test_lone_surrogate_in_a_property_name_is_echoed_escaped_and_the_close_is_clean(raw, client):
    async with client() as bystander:
        async with raw() as ws:
            await ws.send(connect_frame(**{"\ud800": 1}))  # json.dumps writes the escape "\ud800"
            with trio.fail_after(10):
                response = await ws.response("c1")
                closed = await ws.closed()
        assert (await bystander.call("health"))["ok"] is True
    assert response["error"]["message"] == "invalid connect params: at root: unexpected property '\ud800'"
    assert closed == (1008, "invalid connect params: at root: unexpected property '\\ud800'")
    assert json.dumps(response)  # the reply parsed back as JSON, surrogate and all

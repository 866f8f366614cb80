"""Issue 15 §9/§10 (HTTP): bounded validation, capped item counts, strict chat-completions types and error
texts in our words (never Python's parser message, a path or a traceback)."""

from __future__ import annotations

import tracemalloc

import pytest

from moltbot.config.model import (
    GatewayToolsConfig,
)
from moltbot.gateway.app import open_gateway
from moltbot.http.common import HttpError
from moltbot.http.responses import validate
from tests.conftest import HTTP_APIS
from tests.hostile.http_raw import AUTH, request


@pytest.fixture
async def http_gateway(make_config):
    config = make_config(http=HTTP_APIS, tools=GatewayToolsConfig(allow=["gateway"]))
    async with open_gateway(config, port=0, env={}) as gateway:
        yield gateway


def error_of(answer) -> str:
    assert answer.status == 400, (answer.status, answer.body[:300])
    body = answer.json()
    assert body["error"]["type"] == "invalid_request_error", body
    return body["error"]["message"]


def test_responses_validation_keeps_no_garbage_per_item():
    """jsonschema kept every failed oneOf branch of every item: 52 MB for these 1,000 items."""
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "txt": "x"}]}] * 1000
    tracemalloc.start()
    try:
        with pytest.raises(HttpError) as caught:
            validate({"model": "m", "input": items})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.body["error"]["message"] == "input.0.content.0: missing required field 'text'"
    assert peak < 256 * 1024


@pytest.mark.parametrize(("path", "body", "limit"), [
    ("/v1/responses", {"model": "m", "input": [{"type": "message", "role": "user", "content": "x"}] * 2001}, "2000"),
    ("/v1/responses", {"model": "m", "input": [{"type": "message", "role": "user",
                                                "content": [{"type": "input_text", "text": "x"}] * 201}]}, "200"),
    ("/v1/responses", {"model": "m", "input": "x", "tools": [
        {"type": "function", "function": {"name": "f"}}] * 129}, "128"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}] * 2001}, "2000"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}] * 201}]},
     "200"),
    ("/tools/invoke", {"tool": "gateway", "args": {f"k{i}": i for i in range(257)}}, "256"),
    ("/tools/invoke", {"tool": "t" * 129}, "128"),
])
async def test_item_counts_are_capped_with_the_limit_named(http_gateway, path, body, limit):
    message = error_of(await request(http_gateway, "POST", path, body=body, headers=AUTH))
    assert limit in message and ("too many" in message or "limit" in message or "longer" in message), message


@pytest.mark.parametrize(("body", "field"), [
    ({"messages": [{"role": "user", "content": {}}]}, "messages.0.content"),
    ({"model": 1, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"messages": "hello"}, "messages"),
    ({"messages": [{"role": 5, "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"content": "x"}]}, "messages.0"),
    ({"messages": ["x"]}, "messages.0"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, "messages.0.content.0.text"),
    ({"messages": [{"role": "user", "content": ["x"]}]}, "messages.0.content.0"),
    ({"messages": [{"role": "user", "content": [1]}]}, "messages.0.content.0"),
    ({"messages": [{"role": "user", "content": [None]}]}, "messages.0.content.0"),
    ({"messages": [{"role": "user", "content": [True]}]}, "messages.0.content.0"),
    ({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ({"messages": [{"role": "user", "content": "x"}], "user": 7}, "user"),
])
async def test_chat_completions_types_are_checked_like_responses(http_gateway, body, field):
    message = error_of(await request(http_gateway, "POST", "/v1/chat/completions", body=body, headers=AUTH))
    assert message.startswith(field + ":"), message


async def test_chat_completions_still_accepts_what_openai_clients_send(http_gateway):
    """A guard for the strict checks above (passes before and after): SDK-shaped bodies stay accepted."""
    answer = await request(http_gateway, "POST", "/v1/chat/completions", headers=AUTH, body={
        "model": "moltbot", "temperature": 0.2, "stream": False, "stream_options": None, "tools": [],
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "assistant", "content": None, "tool_calls": []},
                     {"role": "user", "content": [{"type": "text", "text": "hi"}, {"input_text": " there"}]}]})
    assert answer.status == 200, answer.body


BAD_BODIES = [
    pytest.param(b"{nope", "invalid JSON at line 1 column 2", id="syntax"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nesting deeper than 128 levels", id="deep"),
    pytest.param(b"[" * 129 + b"]" * 129, "invalid JSON: nesting deeper than 128 levels", id="deeper-than-ws"),
    pytest.param(b'{"tool": ' + b"9" * 5000 + b"}", "invalid JSON: integer of more than 4300 digits", id="huge-int"),
    pytest.param(b'{"tool": 1e999}', "invalid JSON: number out of range", id="out-of-range"),
    pytest.param(b'{"tool": NaN}', "invalid JSON: NaN and Infinity are not JSON", id="nan"),
    pytest.param(b'{"tool": [-Infinity]}', "invalid JSON: NaN and Infinity are not JSON", id="infinity"),
    pytest.param(b'{"tool": "\xff"}', "invalid JSON: the body is not UTF-8", id="not-utf8"),
]
PYTHON_TEXT = ("Expecting", "char ", "recursion", "Exceeds the limit", "codec", "Traceback", "Errno", "/work",
               "sys.set_int_max_str_digits")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/tools/invoke"])
@pytest.mark.parametrize(("raw", "expected"), BAD_BODIES)
async def test_bad_json_is_answered_in_our_words(http_gateway, path, raw, expected):
    answer = await request(http_gateway, "POST", path, body=raw, headers=AUTH)
    text = answer.body.decode("utf-8")
    assert answer.status == 400 and not any(word in text for word in PYTHON_TEXT), text[:300]
    if expected is not None:
        assert error_of(answer) == expected


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
async def test_a_failed_run_is_reported_without_python_text(http_gateway, monkeypatch, path):
    from moltbot.agents import turns

    async def broken_turn(*args, **kwargs):
        open("/nonexistent-dir/secret-file.txt")  # noqa: ASYNC230, SIM115 (the failure is the point)

    monkeypatch.setattr(turns, "run_turn", broken_turn)  # imported at each run
    body = {"model": "moltbot", "input": "hi", "messages": [{"role": "user", "content": "hi"}]}
    body = {key: value for key, value in body.items() if key != ("input" if "chat" in path else "messages")}
    answer = await request(http_gateway, "POST", path, body=body, headers=AUTH)
    text = answer.body.decode("utf-8")
    assert answer.status == 500 and "nonexistent-dir" not in text and "Errno" not in text, text

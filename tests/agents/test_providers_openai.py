"""The OpenAI-compatible provider against a fake Chat Completions server over loopback (real httpx)."""

from __future__ import annotations

import socket
from contextlib import aclosing

import httpx
import trio

from moltbot.agents.providers.base import (
    Finish,
    Message,
    ModelRequest,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from moltbot.agents.providers.http import HttpSettings
from moltbot.agents.providers.openai import OpenAIChatProvider
from tests.agents.test_providers_stream import RecordedSleeps, collect, collect_until_error
from tests.fakes import fail_after
from tests.fakes.openai import (
    ScriptedCall,
    chunk,
    error_reply,
    open_fake_openai,
    rate_limit_reply,
    stream_reply,
    text_chunks,
    text_reply,
    tool_call_reply,
)

KEY = "sk-test-0123456789abcdef"
HELLO = ModelRequest(model="gpt-test", messages=(Message("user", "hi"),))


def make_provider(fake, *, sleep=None, key: str | None = KEY, **settings) -> OpenAIChatProvider:
    return OpenAIChatProvider("openai", fake.base_url, key, settings=HttpSettings(**settings),
                              sleep=sleep or RecordedSleeps(), random=lambda: 1.0)


@fail_after(5)
async def test_request_carries_model_messages_tools_and_bearer_key():
    request = ModelRequest(
        model="gpt-test",
        system="Be brief.",
        messages=(
            Message("user", "weather in Oslo?"),
            Message("assistant", "", tool_calls=(ToolCall("call_1", "weather", {"city": "Oslo"}),)),
            Message("tool", "12°C, rain", tool_call_id="call_1"),
        ),
        tools=(ToolSpec("weather", "Current weather", {"type": "object",
                                                        "properties": {"city": {"type": "string"}}}),),
        max_tokens=256,
        temperature=0.2,
    )
    async with open_fake_openai(text_reply("Rainy."), api_key=KEY) as fake:
        await collect(make_provider(fake), request)
    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {
        "model": "gpt-test",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "12°C, rain"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "max_tokens": 256,
        "temperature": 0.2,
    }


@fail_after(5)
async def test_tool_calls_split_across_chunks_are_yielded_whole():
    calls = (ScriptedCall("call_a", "weather", {"city": "Oslo", "units": "metric"}, pieces=4),
             ScriptedCall("call_b", "time", {"zone": "Europe/Oslo"}, pieces=2))
    async with open_fake_openai(tool_call_reply(*calls, text=["Let me ", "check."], usage=(7, 11))) as fake:
        assert await collect(make_provider(fake)) == [
            TextDelta("Let me "), TextDelta("check."),
            ToolCall("call_a", "weather", {"city": "Oslo", "units": "metric"}),
            ToolCall("call_b", "time", {"zone": "Europe/Oslo"}),
            Usage(7, 11), Finish("tool_calls"),
        ]


@fail_after(5)
async def test_tool_calls_under_finish_reason_stop_still_finish_as_tool_calls():
    payloads = [*text_chunks(), chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                                       "function": {"name": "ls", "arguments": "{}"}}]}),
                chunk(finish_reason="stop"), "[DONE]"]
    async with open_fake_openai(stream_reply(*payloads)) as fake:
        assert await collect(make_provider(fake)) == [ToolCall("c1", "ls", {}), Finish("tool_calls")]


@fail_after(5)
async def test_invalid_tool_arguments_raise_naming_the_tool():
    payloads = [chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "ls", "arguments": "{oops"}}]}),
                chunk(finish_reason="tool_calls"), "[DONE]"]
    async with open_fake_openai(stream_reply(*payloads)) as fake:
        _, error = await collect_until_error(make_provider(fake))
    assert "invalid arguments for tool 'ls'" in error.message


@fail_after(5)
async def test_length_finish_reason_maps_to_length():
    async with open_fake_openai(text_reply("cut", finish="length", usage=None)) as fake:
        assert await collect(make_provider(fake)) == [TextDelta("cut"), Finish("length")]


@fail_after(5)
async def test_429_retry_after_ms_wins_over_seconds():
    sleeps = RecordedSleeps()
    reply = error_reply(429, "slow down", headers=[("retry-after-ms", "1500"), ("retry-after", "9")])
    async with open_fake_openai(reply, text_reply("ok")) as fake:
        await collect(make_provider(fake, sleep=sleeps))
    assert sleeps.delays == [1.5]


@fail_after(5)
async def test_429_with_a_real_short_retry_after_is_retried():
    async with open_fake_openai(rate_limit_reply("0.05"), text_reply("ok")) as fake:
        provider = OpenAIChatProvider("openai", fake.base_url, KEY)
        start = trio.current_time()
        assert (await collect(provider))[0] == TextDelta("ok")
    assert trio.current_time() - start >= 0.05
    assert len(fake.requests) == 2


@fail_after(5)
async def test_5xx_is_retried_with_exponential_backoff():
    sleeps = RecordedSleeps()
    replies = [error_reply(500, "boom", type="server_error"), error_reply(502, "bad gateway"), text_reply("ok")]
    async with open_fake_openai(*replies) as fake:
        await collect(make_provider(fake, sleep=sleeps, backoff_base=0.5))
    # random() == 1.0 puts the jitter at its top: 0.5 × 2^attempt.
    assert sleeps.delays == [0.5, 1.0]
    assert len(fake.requests) == 3


@fail_after(5)
async def test_retries_exhausted_raise_the_providers_message():
    sleeps = RecordedSleeps()
    replies = [error_reply(503, "The engine is currently overloaded", type="server_error")] * 3
    async with open_fake_openai(*replies) as fake:
        _, error = await collect_until_error(make_provider(fake, sleep=sleeps, max_retries=2))
    assert error.message == "openai: HTTP 503: The engine is currently overloaded (server_error)"
    assert (error.status, error.retryable) == (503, True)
    assert len(sleeps.delays) == 2 and len(fake.requests) == 3


@fail_after(5)
async def test_retry_after_beyond_the_limit_raises_at_once_with_retry_after():
    sleeps = RecordedSleeps()
    async with open_fake_openai(rate_limit_reply("3600")) as fake:
        _, error = await collect_until_error(make_provider(fake, sleep=sleeps))
    assert (error.status, error.retryable, error.retry_after) == (429, True, 3600.0)
    assert sleeps.delays == [] and len(fake.requests) == 1


@fail_after(5)
async def test_json_error_body_is_raised_without_retry():
    reply = error_reply(404, "The model `gpt-9` does not exist", code="model_not_found")
    async with open_fake_openai(reply) as fake:
        _, error = await collect_until_error(make_provider(fake))
    assert error.message == "openai: HTTP 404: The model `gpt-9` does not exist (invalid_request_error)"
    assert (error.status, error.retryable) == (404, False)
    assert len(fake.requests) == 1


@fail_after(5)
async def test_error_inside_the_stream_is_raised_with_its_message():
    payloads = [*text_chunks("par"), {"error": {"message": "Provider returned error", "code": 502}}]
    async with open_fake_openai(stream_reply(*payloads)) as fake:
        received, error = await collect_until_error(make_provider(fake))
    assert received == [TextDelta("par")]
    assert error.message == "openai: Provider returned error" and error.retryable


@fail_after(5)
async def test_silence_between_chunks_times_out():
    async with open_fake_openai(text_reply("Hel", then="hang")) as fake:
        received, error = await collect_until_error(make_provider(fake, read_timeout=0.2))
        with trio.fail_after(2):
            await fake.requests[0].disconnected.wait()
    assert received == [TextDelta("Hel")]
    assert error.message == "openai: timed out after 0.2 s waiting for the model to send more"


@fail_after(5)
async def test_closing_the_stream_early_closes_the_connection():
    async with open_fake_openai(text_reply("Hel", then="hang")) as fake:
        async with aclosing(make_provider(fake).stream(HELLO)) as chunks:
            assert await chunks.__anext__() == TextDelta("Hel")
        await fake.requests[0].disconnected.wait()


@fail_after(5)
async def test_unreachable_server_is_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = RecordedSleeps()
    provider = OpenAIChatProvider("local", f"http://127.0.0.1:{port}/v1", None, sleep=sleeps,
                                  settings=HttpSettings(max_retries=2))
    _, error = await collect_until_error(provider)
    assert error.message.startswith(f"local: cannot connect to http://127.0.0.1:{port}/v1")
    assert error.retryable and error.status is None
    assert len(sleeps.delays) == 2


@fail_after(5)
async def test_an_injected_client_keeps_its_connection_between_calls():
    async with open_fake_openai(text_reply("one"), text_reply("two")) as fake:
        async with httpx.AsyncClient() as client:
            provider = OpenAIChatProvider("openai", fake.base_url, KEY, client=client)
            assert (await collect(provider))[0] == TextDelta("one")
            assert (await collect(provider))[0] == TextDelta("two")
    assert fake.connections == 1 and len(fake.requests) == 2


@fail_after(5)
async def test_base_url_without_a_scheme_is_reported_and_not_retried():
    sleeps = RecordedSleeps()
    provider = OpenAIChatProvider("local", "localhost:8080/v1", None, sleep=sleeps)
    _, error = await collect_until_error(provider)
    assert error.message.startswith("local: request to localhost:8080/v1 failed (Request URL is missing")
    assert not error.retryable and sleeps.delays == []

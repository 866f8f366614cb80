"""The Anthropic Messages provider against a fake Messages server over loopback (real httpx)."""

from __future__ import annotations

from moltbot.agents.providers.anthropic import AnthropicProvider
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
from tests.agents.test_providers_stream import RecordedSleeps, collect, collect_until_error
from tests.fakes import fail_after
from tests.fakes.anthropic import (
    ScriptedToolUse,
    error_event,
    error_reply,
    event,
    message_end,
    message_start,
    open_fake_anthropic,
    overloaded_reply,
    stream_reply,
    text_block,
    text_reply,
    tool_use_reply,
)

KEY = "sk-ant-test-0123456789"
HELLO = ModelRequest(model="claude-test", messages=(Message("user", "hi"),))


def make_provider(fake, *, sleep=None, key: str | None = KEY, **settings) -> AnthropicProvider:
    return AnthropicProvider("anthropic", fake.base_url, key, settings=HttpSettings(**settings),
                             sleep=sleep or RecordedSleeps(), random=lambda: 1.0)


@fail_after(5)
async def test_request_puts_system_on_top_and_tool_traffic_in_blocks():
    request = ModelRequest(
        model="claude-test",
        system="Be brief.",
        messages=(
            Message("system", "Today is Monday."),
            Message("user", "weather and time in Oslo?"),
            Message("assistant", "Checking.", tool_calls=(ToolCall("tu_1", "weather", {"city": "Oslo"}),
                                                          ToolCall("tu_2", "time", {}))),
            Message("tool", "12°C", tool_call_id="tu_1"),
            Message("tool", "09:00", tool_call_id="tu_2"),
        ),
        tools=(ToolSpec("weather", "Current weather", {"type": "object"}),),
    )
    async with open_fake_anthropic(text_reply("Rainy."), api_key=KEY) as fake:
        await collect(make_provider(fake), request)
    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": "claude-test",
        "stream": True,
        "max_tokens": 4096,
        "system": "Be brief.\n\nToday is Monday.",
        "messages": [
            {"role": "user", "content": "weather and time in Oslo?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "tu_2", "name": "time", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "tu_1", "content": "12°C"},
                {"type": "tool_result", "tool_use_id": "tu_2", "content": "09:00"}]},
        ],
        "tools": [{"name": "weather", "description": "Current weather", "input_schema": {"type": "object"}}],
    }


@fail_after(5)
async def test_request_max_tokens_and_temperature_override_the_default():
    request = ModelRequest(model="claude-test", messages=(Message("user", "hi"),), max_tokens=100,
                           temperature=0.5)
    async with open_fake_anthropic(text_reply("ok")) as fake:
        await collect(make_provider(fake), request)
    body = fake.requests[0].json()
    assert (body["max_tokens"], body["temperature"], "system" in body) == (100, 0.5, False)


@fail_after(5)
async def test_tool_use_blocks_stream_as_whole_tool_calls():
    calls = (ScriptedToolUse("toolu_1", "weather", {"city": "Oslo", "units": "metric"}, pieces=4),
             ScriptedToolUse("toolu_2", "time", {"zone": "Europe/Oslo"}, pieces=2))
    async with open_fake_anthropic(tool_use_reply(*calls, text=["Check", "ing."], input_tokens=20,
                                                  output_tokens=9)) as fake:
        assert await collect(make_provider(fake)) == [
            TextDelta("Check"), TextDelta("ing."),
            ToolCall("toolu_1", "weather", {"city": "Oslo", "units": "metric"}),
            ToolCall("toolu_2", "time", {"zone": "Europe/Oslo"}),
            Usage(20, 9), Finish("tool_calls"),
        ]


@fail_after(5)
async def test_max_tokens_stop_reason_maps_to_length():
    async with open_fake_anthropic(text_reply("cut", stop_reason="max_tokens")) as fake:
        assert (await collect(make_provider(fake)))[-1] == Finish("length")


@fail_after(5)
async def test_cache_reads_and_writes_are_counted_apart_from_input():
    start = event("message_start", message={"usage": {"input_tokens": 3, "cache_read_input_tokens": 100,
                                                      "cache_creation_input_tokens": 20, "output_tokens": 1}})
    async with open_fake_anthropic(stream_reply(start, *text_block(0, "x"), *message_end())) as fake:
        usage = (await collect(make_provider(fake)))[-2]
    assert usage == Usage(3, 5, cache_read=100, cache_write=20)
    assert usage.prompt_tokens == 123 and usage.total_tokens == 128


@fail_after(5)
async def test_overloaded_529_is_retried_with_backoff():
    sleeps = RecordedSleeps()
    async with open_fake_anthropic(overloaded_reply(), text_reply("ok")) as fake:
        assert (await collect(make_provider(fake, sleep=sleeps, backoff_base=0.25)))[0] == TextDelta("ok")
    assert sleeps.delays == [0.25] and len(fake.requests) == 2


@fail_after(5)
async def test_json_error_body_is_raised_with_the_providers_message():
    reply = error_reply(400, "messages: roles must alternate between \"user\" and \"assistant\"")
    async with open_fake_anthropic(reply) as fake:
        _, error = await collect_until_error(make_provider(fake))
    assert error.message == ('anthropic: HTTP 400: messages: roles must alternate between "user" and '
                             '"assistant" (invalid_request_error)')
    assert (error.status, error.retryable) == (400, False)


@fail_after(5)
async def test_error_event_mid_stream_raises_retryable_with_its_message():
    events = [message_start(), *text_block(0, "par")[:-1], error_event("overloaded_error", "Overloaded")]
    async with open_fake_anthropic(stream_reply(*events), text_reply("again")) as fake:
        received, error = await collect_until_error(make_provider(fake))
    assert received == [TextDelta("par")]
    assert error.message == "anthropic: Overloaded (overloaded_error)" and error.retryable
    assert len(fake.requests) == 1


@fail_after(5)
async def test_base_url_ending_in_v1_is_accepted():
    async with open_fake_anthropic(text_reply("ok")) as fake:
        provider = AnthropicProvider("anthropic", fake.base_url + "/v1/", KEY)
        assert (await collect(provider))[0] == TextDelta("ok")
    assert fake.requests[0].path == "/v1/messages"

"""What every HTTP model provider does with a streamed reply, the same for each wire format.

Each test runs once per provider against that provider's fake server over loopback (real httpx); a
``Wire`` names what differs: the fake, its reply builders, and the header that carries the key. What only
one wire format has (tool-call assembly, cache counts, ``retry-after-ms``) stays in
``test_providers_openai.py`` and ``test_providers_anthropic.py``, which share the helpers here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import attrs
import pytest
import trio

from moltbot.agents.providers.anthropic import AnthropicProvider
from moltbot.agents.providers.base import (
    Finish,
    Message,
    ModelRequest,
    Provider,
    ProviderError,
    TextDelta,
    Usage,
)
from moltbot.agents.providers.http import HttpSettings
from moltbot.agents.providers.openai import OpenAIChatProvider
from tests.fakes import anthropic, fail_after, openai


class RecordedSleeps:
    """The backoff's sleep: records the delays and only yields, so tests never wait for real."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await trio.lowlevel.checkpoint()


HELLO = ModelRequest(model="model-test", messages=(Message("user", "hi"),))


async def collect(provider: Provider, request: ModelRequest = HELLO) -> list[Any]:
    async with aclosing(provider.stream(request)) as chunks:
        return [chunk async for chunk in chunks]


async def collect_until_error(
    provider: Provider, request: ModelRequest = HELLO
) -> tuple[list[Any], ProviderError]:
    received: list[Any] = []
    with pytest.raises(ProviderError) as caught:
        async with aclosing(provider.stream(request)) as chunks:
            async for item in chunks:
                received.append(item)
    return received, caught.value


@attrs.frozen
class Wire:
    name: str
    provider: Callable[..., Provider]
    open_fake: Callable[..., Any]
    text_reply: Callable[..., Any]
    rate_limit_reply: Callable[[str], Any]
    truncated_reply: Callable[[], Any]  # a stream that ends cleanly before the reply's end marker
    usage: Usage  # what text_reply reports by default
    sent_key: Callable[[Any], str]  # the key as a recorded request carried it

    def make(
        self, fake: Any, *, sleep: RecordedSleeps | None = None, key: str | None = "sk-test-0123456789"
    ) -> Provider:
        return self.provider(
            self.name,
            fake.base_url,
            key,
            settings=HttpSettings(),
            sleep=sleep or RecordedSleeps(),
            random=lambda: 1.0,
        )


WIRES = [
    Wire(
        "openai",
        OpenAIChatProvider,
        openai.open_fake_openai,
        openai.text_reply,
        openai.rate_limit_reply,
        lambda: openai.stream_reply(*openai.text_chunks("Hel")),
        Usage(5, 3),
        lambda request: request.headers["authorization"].removeprefix("Bearer "),
    ),
    Wire(
        "anthropic",
        AnthropicProvider,
        anthropic.open_fake_anthropic,
        anthropic.text_reply,
        anthropic.rate_limit_reply,
        lambda: anthropic.stream_reply(anthropic.message_start(), *anthropic.text_block(0, "Hel")),
        Usage(10, 5),
        lambda request: request.headers["x-api-key"],
    ),
]

wires = pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.name)


@wires
@fail_after(5)
async def test_text_stream_yields_deltas_then_usage_then_finish(wire):
    async with wire.open_fake(wire.text_reply("Hel", "lo")) as fake:
        assert await collect(wire.make(fake)) == [
            TextDelta("Hel"),
            TextDelta("lo"),
            wire.usage,
            Finish("stop"),
        ]


@wires
@fail_after(5)
async def test_429_waits_the_retry_after_seconds_then_succeeds(wire):
    sleeps = RecordedSleeps()
    async with wire.open_fake(
        wire.rate_limit_reply("3"), wire.rate_limit_reply("1"), wire.text_reply("ok")
    ) as fake:
        assert (await collect(wire.make(fake, sleep=sleeps)))[0] == TextDelta("ok")
    assert sleeps.delays == [3.0, 1.0] and len(fake.requests) == 3


@wires
@fail_after(5)
async def test_rejected_key_never_appears_in_the_error(wire):
    secret = "sk-wrong-secret-key-42"
    async with wire.open_fake(api_key="sk-the-right-key") as fake:
        provider = wire.make(fake, key=secret)
        _, error = await collect_until_error(provider)
    assert wire.sent_key(fake.requests[0]) == secret
    assert error.status == 401 and "***" in error.message
    assert secret not in str(error) and secret not in repr(error) and secret not in repr(provider)


@wires
@fail_after(5)
async def test_mid_stream_disconnect_raises_after_the_partial_text_without_retry(wire):
    async with wire.open_fake(
        wire.text_reply("Hel", "lo", then="disconnect"), wire.text_reply("again")
    ) as fake:
        received, error = await collect_until_error(wire.make(fake))
    assert received == [TextDelta("Hel"), TextDelta("lo")]
    assert error.message.startswith(f"{wire.name}: stream ended unexpectedly") and error.retryable
    assert len(fake.requests) == 1


@wires
@fail_after(5)
async def test_stream_closed_cleanly_before_its_end_is_an_unexpected_end(wire):
    async with wire.open_fake(wire.truncated_reply()) as fake:
        received, error = await collect_until_error(wire.make(fake))
    assert received == [TextDelta("Hel")]
    assert error.message.startswith(f"{wire.name}: stream ended unexpectedly")


@wires
@fail_after(5)
async def test_cancelling_the_reader_closes_the_connection(wire):
    async with wire.open_fake(wire.text_reply("Hel", then="hang")) as fake:
        received = []
        with trio.CancelScope() as scope:
            async with aclosing(wire.make(fake).stream(HELLO)) as chunks:
                async for item in chunks:
                    received.append(item)
                    scope.cancel()  # the next read is cancelled while waiting on the socket
        assert scope.cancelled_caught and received == [TextDelta("Hel")]
        await fake.requests[0].disconnected.wait()

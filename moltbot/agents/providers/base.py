"""The provider contract: a conversation in, a stream of chunks out.

A provider turns a ``ModelRequest`` (system prompt, messages, tools, thinking level) into an async iterator
of chunks: ``TextDelta`` (new assistant text), ``ToolCall`` (a complete tool call the model asks for),
``Thinking`` (a reasoning block the provider wants back with the tool calls it came with), ``Usage``
(token counts, when the provider reports them) and finally ``Finish`` (why it stopped). Providers do their
own I/O (httpx for the HTTP ones) and take their base URL, key and clock from their constructor, so tests
point them at loopback fakes. Errors surface as ``ProviderError`` with the provider's own message; whether
it is worth retrying is decided by the provider (429/5xx/network: ``retryable``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal, Protocol

import attrs


@attrs.frozen
class ToolSpec:
    """A tool the model may call: JSON Schema ``parameters``."""

    name: str
    description: str
    parameters: dict[str, Any]


@attrs.frozen
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@attrs.frozen
class Message:
    """One conversation message. ``content`` is text; tool traffic uses ``tool_calls`` / ``tool_call_id``;
    ``thinking`` holds an assistant step's ``Thinking`` blocks, sent back only by the provider that made them."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    thinking: tuple[dict[str, Any], ...] = ()


@attrs.frozen
class ModelRequest:
    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    thinking: str | None = None  # minimal/low/medium/high (``thinking.wire_level``); None: ask for none


@attrs.frozen
class TextDelta:
    text: str


@attrs.frozen
class Thinking:
    """A reasoning block in the provider's own form (Anthropic's signed ``thinking`` or
    ``redacted_thinking``), to hand back unchanged with the step's tool calls. Not reply text."""

    block: dict[str, Any]


@attrs.frozen
class Usage:
    """Tokens of one model call (or a run's calls, added up), as the provider reported them.

    ``input_tokens`` are the prompt tokens read fresh; ``cache_read``/``cache_write`` the prompt tokens
    read from or written to the provider's prompt cache (Anthropic reports them apart, OpenAI as
    ``prompt_tokens_details.cached_tokens`` inside ``prompt_tokens``): the prompt is all three."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read + self.cache_write

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cache_read + other.cache_read, self.cache_write + other.cache_write)


def token_count(value: Any) -> int:
    """A token count from a provider's JSON: a non-negative number, anything else (missing, text) 0."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


FinishReason = Literal["stop", "tool_calls", "length", "error"]


@attrs.frozen
class Finish:
    reason: FinishReason = "stop"


Chunk = TextDelta | ToolCall | Thinking | Usage | Finish


class ProviderError(Exception):
    """The provider failed; ``message`` is the provider's own explanation (never contains the API key)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@attrs.frozen
class ModelInfo:
    id: str
    name: str
    provider: str
    context_window: int | None = None
    reasoning: bool | None = None


class Provider(Protocol):
    """What the agent runtime needs from a model provider."""

    id: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[Chunk, None]:
        """Stream the model's answer. Raises ``ProviderError``. Cancellation closes the connection."""
        ...

    def models(self) -> list[ModelInfo]:
        """Models this provider offers (configured or known), for ``models.list``."""
        ...

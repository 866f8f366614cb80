"""Anthropic Messages API: ``POST {base_url}/v1/messages`` with ``stream: true``.

The answer is a typed SSE stream: ``message_start`` (input usage), then per content block
``content_block_start`` / ``content_block_delta`` (``text_delta`` or ``input_json_delta``) /
``content_block_stop``, then ``message_delta`` (stop reason, output usage) and ``message_stop``; ``ping``
may come at any time and ``error`` ends the stream. A tool call is yielded when its block stops. The
system prompt is the top-level ``system``; tool results go back as ``tool_result`` blocks of a user turn.
A thinking level goes out as ``thinking.budget_tokens`` (``agents/thinking.py``); the answer's ``thinking``
blocks (``thinking_delta`` text, then a ``signature_delta``) and ``redacted_thinking`` blocks are yielded
whole as ``Thinking`` when they stop, and lead the assistant turn that carries the step's tool calls.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import attrs

from ..thinking import ANTHROPIC_BUDGETS
from .base import (
    Chunk,
    Finish,
    FinishReason,
    Message,
    ModelRequest,
    ProviderError,
    TextDelta,
    Thinking,
    ToolCall,
    Usage,
    token_count,
)
from .http import HttpProvider, SseEvent

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS: dict[str, FinishReason] = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "tool_use": "tool_calls",
                "max_tokens": "length", "refusal": "error"}
RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})


@attrs.define
class _ToolBlock:
    id: str
    name: str
    input: dict[str, Any]
    json: str = ""


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": message.content}]
    blocks: list[dict[str, Any]] = [dict(block) for block in message.thinking] if message.role == "assistant" else []
    blocks += [{"type": "text", "text": message.content}] if message.content else []
    if message.role == "assistant":
        blocks += [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                   for call in message.tool_calls]
    return blocks


def request_to_anthropic(request: ModelRequest, *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """The JSON body of a streaming Messages request.

    System messages join the top-level ``system``; consecutive turns of one role (a run of tool results,
    say) are merged into one turn, as the API wants all results for a tool-using turn in the next one.
    """
    system = [request.system] if request.system else []
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # Plain text turns in their simplest form, as most clients send them.
        if len(turn["content"]) == 1 and turn["content"][0]["type"] == "text":
            turn["content"] = turn["content"][0]["text"]
    budget = ANTHROPIC_BUDGETS.get(request.thinking or "")
    body: dict[str, Any] = {"model": request.model, "messages": turns, "stream": True,
                            "max_tokens": (request.max_tokens or default_max_tokens) + (budget or 0)}
    if system:
        body["system"] = "\n\n".join(system)
    if request.tools:
        body["tools"] = [{"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
                         for tool in request.tools]
    if budget:  # the answer keeps its max_tokens; the API takes no temperature with thinking on
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif request.temperature is not None:
        body["temperature"] = request.temperature
    return body


class AnthropicProvider(HttpProvider):
    """The Anthropic Messages API (or a compatible proxy) at ``base_url``; key sent as ``x-api-key``.

    Constructor arguments: see ``HttpProvider``, plus ``max_tokens`` (the default when the request sets
    none; the API requires one).
    """

    def __init__(self, id: str = "anthropic", base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, *,
                 max_tokens: int = DEFAULT_MAX_TOKENS, **options: Any) -> None:
        super().__init__(id, base_url, api_key, **options)
        self.max_tokens = max_tokens

    def _url(self) -> str:
        # The SDKs take the host as base URL; accept one ending in /v1 too.
        return f"{self.base_url.removesuffix('/v1')}/v1/messages"

    def _request_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        return request_to_anthropic(request, default_max_tokens=self.max_tokens)

    async def _decode(self, events: AsyncGenerator[SseEvent, None]) -> AsyncGenerator[Chunk, None]:
        tools: dict[int, _ToolBlock] = {}
        thinking: dict[int, dict[str, Any]] = {}
        input_tokens = output_tokens = cache_read = cache_write = 0
        stop_reason: str | None = None
        async for event in events:
            if not event.data.strip():
                continue
            data = self._decode_json(event.data)
            kind = data.get("type") or event.event
            if kind == "message_start":
                usage = (data.get("message") or {}).get("usage") or {}
                input_tokens, cache_read, cache_write = _prompt_tokens(usage, (0, 0, 0))
                output_tokens = token_count(usage.get("output_tokens"))
            elif kind == "content_block_start":
                block = data.get("content_block") or {}
                if block.get("type") == "text" and block.get("text"):
                    yield TextDelta(block["text"])
                elif block.get("type") == "tool_use":
                    tools[data.get("index", 0)] = _ToolBlock(block.get("id", ""), block.get("name", ""),
                                                             block.get("input") or {})
                elif block.get("type") == "thinking":
                    thinking[data.get("index", 0)] = {"type": "thinking", "thinking": block.get("thinking") or "",
                                                      "signature": block.get("signature") or ""}
                elif block.get("type") == "redacted_thinking":
                    thinking[data.get("index", 0)] = {"type": "redacted_thinking", "data": block.get("data") or ""}
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield TextDelta(delta["text"])
                elif delta.get("type") == "input_json_delta" and data.get("index", 0) in tools:
                    tools[data.get("index", 0)].json += delta.get("partial_json") or ""
                elif delta.get("type") in ("thinking_delta", "signature_delta") and data.get("index", 0) in thinking:
                    field = "thinking" if delta["type"] == "thinking_delta" else "signature"
                    thinking[data.get("index", 0)][field] += str(delta.get(field) or "")
            elif kind == "content_block_stop" and data.get("index", 0) in thinking:
                yield Thinking(thinking.pop(data.get("index", 0)))
            elif kind == "content_block_stop" and data.get("index", 0) in tools:
                tool = tools.pop(data.get("index", 0))
                arguments = self._tool_arguments(tool.name, tool.json) if tool.json else tool.input
                yield ToolCall(id=tool.id, name=tool.name, arguments=arguments)
            elif kind == "message_delta":
                stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
                usage = data.get("usage") or {}
                output_tokens = token_count(usage.get("output_tokens")) or output_tokens
                # message_delta's usage is cumulative; a field it leaves out keeps message_start's value
                input_tokens, cache_read, cache_write = _prompt_tokens(usage, (input_tokens, cache_read,
                                                                                cache_write))
            elif kind == "message_stop":
                yield Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read=cache_read,
                            cache_write=cache_write)
                yield Finish(STOP_REASONS.get(stop_reason or "end_turn", "stop"))
                return
            elif kind == "error":
                error = data.get("error") or {}
                kind = error.get("type") or "error"
                raise ProviderError(f"{self.id}: {self._scrub(str(error.get('message') or kind))} ({kind})",
                                    retryable=kind in RETRYABLE_ERRORS)
        raise self._ended_early()


def _prompt_tokens(usage: dict[str, Any], before: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(input, cacheRead, cacheWrite)``: Anthropic counts cache reads and writes apart from
    ``input_tokens``; a count not in ``usage`` keeps its value from ``before``."""
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    counts = [token_count(usage[key]) if key in usage else old for key, old in zip(keys, before, strict=True)]
    return counts[0], counts[1], counts[2]

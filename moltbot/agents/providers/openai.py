"""OpenAI-compatible Chat Completions (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp, LM Studio …).

One POST to ``{base_url}/chat/completions`` with ``stream: true``; the answer is SSE ``data:`` lines of
``chat.completion.chunk`` objects ending with ``data: [DONE]``. Text deltas are yielded as they come;
tool calls arrive as fragments keyed by ``index`` (id and name first, then JSON argument pieces) and are
yielded whole when the choice finishes. Usage (``stream_options.include_usage``) comes in a last chunk
with no choices, so ``Usage`` and ``Finish`` are yielded after the stream's end. A thinking level goes out
as ``reasoning_effort`` (``agents/thinking.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import attrs

from ..thinking import OPENAI_EFFORTS
from .base import (
    Chunk,
    Finish,
    FinishReason,
    Message,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCall,
    Usage,
    token_count,
)
from .http import HttpProvider, SseEvent, error_message

FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                  "function_call": "tool_calls", "content_filter": "error"}


@attrs.define
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


def message_to_openai(message: Message) -> dict[str, Any]:
    """One conversation message in Chat Completions form."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {"id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
            for call in message.tool_calls
        ]
    if message.name and message.role in ("user", "assistant"):
        out["name"] = message.name
    return out


def request_to_openai(request: ModelRequest) -> dict[str, Any]:
    """The JSON body of a streaming Chat Completions request."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [message_to_openai(message) for message in request.messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True,
                            "stream_options": {"include_usage": True}}
    if request.tools:
        body["tools"] = [{"type": "function", "function": {"name": tool.name, "description": tool.description,
                                                           "parameters": tool.parameters}}
                         for tool in request.tools]
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.thinking in OPENAI_EFFORTS:
        body["reasoning_effort"] = OPENAI_EFFORTS[request.thinking]
    return body


class OpenAIChatProvider(HttpProvider):
    """A Chat Completions server at ``base_url`` (which includes ``/v1``); key sent as a Bearer token.

    Constructor arguments: see ``HttpProvider``.
    """

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _request_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        return request_to_openai(request)

    async def _decode(self, events: AsyncGenerator[SseEvent, None]) -> AsyncGenerator[Chunk, None]:
        calls: dict[int, _PartialCall] = {}
        sent_calls = False
        usage: Usage | None = None
        finish: str | None = None
        done = False
        async for event in events:
            if event.data.strip() == "[DONE]":
                done = True
                break
            if not event.data.strip():
                continue
            data = self._decode_json(event.data)
            if data.get("error"):
                # OpenRouter, vLLM and others report failures inside the stream.
                raise ProviderError(f"{self.id}: {self._scrub(error_message(json.dumps(data)))}",
                                    retryable=True)
            if isinstance(data.get("usage"), dict):
                usage = openai_usage(data["usage"])
            for choice in data.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    yield TextDelta(delta["content"])
                for position, part in enumerate(delta.get("tool_calls") or ()):
                    _accumulate(calls.setdefault(part.get("index", position), _PartialCall()), part)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                    for call in self._complete_calls(calls):
                        sent_calls = True
                        yield call
        if not done and finish is None:
            raise self._ended_early()
        for call in self._complete_calls(calls):
            sent_calls = True
            yield call
        if usage is not None:
            yield usage
        # Some servers say "stop" even when the model called tools; the runtime needs to know it did.
        yield Finish("tool_calls" if sent_calls else FINISH_REASONS.get(finish or "stop", "stop"))

    def _complete_calls(self, calls: dict[int, _PartialCall]) -> list[ToolCall]:
        complete = [ToolCall(id=call.id or f"call_{uuid.uuid4().hex[:24]}", name=call.name,
                             arguments=self._tool_arguments(call.name, call.arguments))
                    for _, call in sorted(calls.items())]
        calls.clear()
        return complete


def openai_usage(raw: dict[str, Any]) -> Usage:
    """A Chat Completions ``usage`` object: ``prompt_tokens`` includes the cached part
    (``prompt_tokens_details.cached_tokens``), which is counted as a cache read, as the original does."""
    prompt = token_count(raw.get("prompt_tokens"))
    details = raw.get("prompt_tokens_details")
    cached = min(prompt, token_count(details.get("cached_tokens"))) if isinstance(details, dict) else 0
    return Usage(input_tokens=prompt - cached, output_tokens=token_count(raw.get("completion_tokens")), cache_read=cached)



def _accumulate(call: _PartialCall, part: dict[str, Any]) -> None:
    function = part.get("function") or {}
    # Some servers repeat the id and name in every fragment: keep the first; only arguments are pieces.
    call.id = call.id or part.get("id") or ""
    call.name = call.name or function.get("name") or ""
    call.arguments += function.get("arguments") or ""

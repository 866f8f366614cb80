"""A fake Anthropic Messages server: ``POST /v1/messages`` streaming typed SSE events.

    async with open_fake_anthropic(text_reply("Hel", "lo")) as fake:
        provider = AnthropicProvider("anthropic", fake.base_url, "sk-ant-test")

Replies follow the real event sequence (``message_start``, ``content_block_*``, ``message_delta``,
``message_stop``, with a ``ping``), tool input streamed as ``input_json_delta`` fragments. Errors use
Anthropic's body ``{"type": "error", "error": {"type", "message"}}``. With ``api_key`` set, the fake
answers 401 to any other ``x-api-key`` and 400 when ``anthropic-version`` is missing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs

from . import FakeHttpServer, RecordedRequest, Reply, ReplySource, json_reply, open_fake_server

PATH = "/v1/messages"
SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))
Then = Literal["end", "disconnect", "hang"]


@attrs.frozen
class ScriptedToolUse:
    id: str
    name: str
    input: dict[str, Any]
    pieces: int = 3


def event(type: str, **data: Any) -> bytes:
    return f"event: {type}\ndata: {json.dumps({'type': type, **data})}\n\n".encode()


def message_start(input_tokens: int = 10, model: str = "claude-fake") -> bytes:
    return event("message_start", message={
        "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": model,
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}})


def text_block(index: int, *parts: str) -> list[bytes]:
    return [event("content_block_start", index=index, content_block={"type": "text", "text": ""}),
            *(event("content_block_delta", index=index, delta={"type": "text_delta", "text": part})
              for part in parts),
            event("content_block_stop", index=index)]


def tool_use_block(index: int, call: ScriptedToolUse) -> list[bytes]:
    text = json.dumps(call.input)
    size = max(1, -(-len(text) // max(1, call.pieces)))
    pieces = [text[start:start + size] for start in range(0, len(text), size)]
    return [event("content_block_start", index=index,
                  content_block={"type": "tool_use", "id": call.id, "name": call.name, "input": {}}),
            *(event("content_block_delta", index=index, delta={"type": "input_json_delta", "partial_json": piece})
              for piece in pieces),
            event("content_block_stop", index=index)]


def thinking_block(index: int, text: str, signature: str) -> list[bytes]:
    """A ``thinking`` block as extended thinking streams it: text deltas, then one ``signature_delta``."""
    return [event("content_block_start", index=index,
                  content_block={"type": "thinking", "thinking": "", "signature": ""}),
            event("content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": text}),
            event("content_block_delta", index=index, delta={"type": "signature_delta", "signature": signature}),
            event("content_block_stop", index=index)]


def message_end(stop_reason: str = "end_turn", output_tokens: int = 5) -> list[bytes]:
    return [event("message_delta", delta={"stop_reason": stop_reason, "stop_sequence": None},
                  usage={"output_tokens": output_tokens}),
            event("message_stop")]


def stream_reply(*events: bytes, then: Then = "end") -> Reply:
    return Reply(200, SSE_HEADERS, tuple(events), then)


def text_reply(*parts: str, input_tokens: int = 10, output_tokens: int = 5, stop_reason: str = "end_turn",
               then: Then = "end") -> Reply:
    """The model says ``parts``; with ``then="disconnect"``/``"hang"`` the block never finishes."""
    blocks = text_block(0, *parts)
    if then != "end":
        return stream_reply(message_start(input_tokens), *blocks[:-1], then=then)
    return stream_reply(message_start(input_tokens), event("ping"), *blocks,
                        *message_end(stop_reason, output_tokens))


def tool_use_reply(*calls: ScriptedToolUse, text: Iterable[str] = (), input_tokens: int = 20,
                   output_tokens: int = 9, thinking: tuple[str, str] | None = None) -> Reply:
    """Optional ``thinking`` block (``(text, signature)``) and text block, then one ``tool_use`` block per
    call, ``stop_reason: "tool_use"``."""
    parts = list(text)
    events = [message_start(input_tokens)]
    if thinking is not None:
        events += thinking_block(0, *thinking)
    if parts:
        events += text_block(1 if thinking else 0, *parts)
    for offset, call in enumerate(calls):
        events += tool_use_block(offset + (1 if parts else 0) + (1 if thinking else 0), call)
    return stream_reply(*events, *message_end("tool_use", output_tokens))


def error_body(type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type, "message": message}}


def error_reply(status: int, message: str, *, type: str = "invalid_request_error",
                headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return json_reply(status, error_body(type, message), headers)


def overloaded_reply() -> Reply:
    return error_reply(529, "Overloaded", type="overloaded_error")


def rate_limit_reply(retry_after: str = "0.05") -> Reply:
    return error_reply(429, "Number of request tokens has exceeded your per-minute rate limit",
                       type="rate_limit_error", headers=[("retry-after", retry_after)])


def error_event(type: str, message: str) -> bytes:
    return event("error", error={"type": type, "message": message})


class FakeAnthropic(FakeHttpServer):
    @property
    def base_url(self) -> str:
        return self.url


def _router(api_key: str | None):
    def route(request: RecordedRequest) -> Reply | None:
        if request.method != "POST" or request.path != PATH:
            return error_reply(404, "Not Found", type="not_found_error")
        if api_key is None:
            return None
        if request.headers.get("x-api-key") != api_key:
            return error_reply(401, f"invalid x-api-key: {request.headers.get('x-api-key', '')}",
                               type="authentication_error")
        if "anthropic-version" not in request.headers:
            return error_reply(400, "anthropic-version: header is required")
        return None

    return route


@asynccontextmanager
async def open_fake_anthropic(*replies: ReplySource, default: ReplySource | None = None,
                              api_key: str | None = None) -> AsyncIterator[FakeAnthropic]:
    """A fake Messages server answering from ``replies``; ``fake.base_url`` is the host (no ``/v1``)."""
    async with open_fake_server(FakeAnthropic(replies, default=default, route=_router(api_key))) as fake:
        yield fake

"""A fake OpenAI-compatible Chat Completions server: ``POST /v1/chat/completions`` streaming SSE.

    async with open_fake_openai(text_reply("Hel", "lo")) as fake:
        provider = OpenAIChatProvider("openai", fake.base_url, "sk-test")
        ...
        fake.requests[0].json()["messages"]

Replies are built with ``text_reply`` / ``tool_call_reply`` (the chunk shapes OpenAI sends, tool-call
arguments split across chunks), ``error_reply`` (OpenAI's JSON error body) and ``stream_reply`` for
hand-written chunk sequences. With ``api_key`` set, the fake answers 401 to any other key, as OpenAI does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs

from . import FakeHttpServer, RecordedRequest, Reply, ReplySource, json_reply, open_fake_server

PATH = "/v1/chat/completions"
SSE_HEADERS = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


@attrs.frozen
class ScriptedCall:
    """A tool call to stream; ``arguments`` is split into ``pieces`` fragments."""

    id: str
    name: str
    arguments: dict[str, Any]
    pieces: int = 3


def chunk(delta: dict[str, Any] | None = None, *, finish_reason: str | None = None,
          usage: dict[str, int] | None = None, model: str = "fake-model") -> dict[str, Any]:
    """One ``chat.completion.chunk``; without ``delta`` and with ``usage`` it is the final usage chunk."""
    body: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
                            "model": model, "choices": []}
    if delta is not None or finish_reason is not None:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage
    return body


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return chunk(usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens})


def sse(payload: dict[str, Any] | str) -> bytes:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()


def stream_reply(*payloads: dict[str, Any] | str, then: Literal["end", "disconnect", "hang"] = "end") -> Reply:
    """An SSE reply sending each payload (a chunk dict or a raw string like ``"[DONE]"``) as one chunk."""
    return Reply(200, SSE_HEADERS, tuple(sse(payload) for payload in payloads), then)


def text_chunks(*parts: str) -> list[dict[str, Any]]:
    return [chunk({"role": "assistant", "content": ""}), *(chunk({"content": part}) for part in parts)]


def text_reply(*parts: str, usage: tuple[int, int] | None = (5, 3), finish: str = "stop",
               then: Literal["end", "disconnect", "hang"] = "end") -> Reply:
    """The model says ``parts`` one chunk each, then finishes, reports usage and sends ``[DONE]``.

    With ``then="disconnect"`` or ``"hang"`` only the text chunks are sent before that happens.
    """
    if then != "end":
        return stream_reply(*text_chunks(*parts), then=then)
    tail = [usage_chunk(*usage)] if usage else []
    return stream_reply(*text_chunks(*parts), chunk(finish_reason=finish), *tail, "[DONE]")


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, count)))
    return [text[start:start + size] for start in range(0, len(text), size)] or [""]


def tool_call_chunks(index: int, call: ScriptedCall) -> list[dict[str, Any]]:
    """The first fragment carries id, type and name; the arguments JSON follows in pieces."""
    fragments = _pieces(json.dumps(call.arguments), call.pieces)
    first = {"index": index, "id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": ""}}
    return [chunk({"tool_calls": [first]}),
            *(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
              for piece in fragments)]


def tool_call_reply(*calls: ScriptedCall, text: Iterable[str] = (), usage: tuple[int, int] | None = (7, 11)) -> Reply:
    """Optional text, then each tool call streamed in fragments, ``finish_reason: "tool_calls"``."""
    payloads: list[dict[str, Any] | str] = list(text_chunks(*text))
    for index, call in enumerate(calls):
        payloads += tool_call_chunks(index, call)
    payloads.append(chunk(finish_reason="tool_calls"))
    if usage:
        payloads.append(usage_chunk(*usage))
    payloads.append("[DONE]")
    return stream_reply(*payloads)


def error_reply(status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                headers: Iterable[tuple[str, str]] = ()) -> Reply:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return json_reply(status, {"error": {"message": message, "type": type, "param": None, "code": code}},
                      headers)


def rate_limit_reply(retry_after: str = "0.05", *, header: str = "retry-after") -> Reply:
    return error_reply(429, "Rate limit reached for requests", type="requests", code="rate_limit_exceeded",
                       headers=[(header, retry_after)])


class FakeOpenAI(FakeHttpServer):
    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def _router(api_key: str | None):
    def route(request: RecordedRequest) -> Reply | None:
        if request.method != "POST" or request.path != PATH:
            return error_reply(404, f"Unknown request URL: {request.method} {request.path}.",
                               code="unknown_url")
        if api_key is not None and request.headers.get("authorization") != f"Bearer {api_key}":
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            # The real API masks the key it quotes; this fake quotes it whole to prove we scrub it.
            return error_reply(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")
        return None

    return route


@asynccontextmanager
async def open_fake_openai(*replies: ReplySource, default: ReplySource | None = None,
                           api_key: str | None = None) -> AsyncIterator[FakeOpenAI]:
    """A fake Chat Completions server answering from ``replies``; ``fake.base_url`` ends in ``/v1``."""
    async with open_fake_server(FakeOpenAI(replies, default=default, route=_router(api_key))) as fake:
        yield fake

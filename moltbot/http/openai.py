"""``POST /v1/chat/completions``: the OpenAI Chat Completions API in front of the agents.

The agent comes from ``x-moltbot-agent-id`` (or ``model: "moltbot:<id>"``), the session from
``x-moltbot-session-key`` or ``user``; earlier turns of ``messages`` are folded into one prompt with the
reference's history markers. Streaming is SSE ``data:`` chunks; unlike the reference, the stream ends
with a chunk carrying ``finish_reason: "stop"`` (and the run's usage when the provider reported it),
because OpenAI clients wait for it. A client that disconnects mid-stream aborts its run.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, request

from ..agents.sessions import normalize_agent_id
from ..protocol import dumps
from . import fields
from .common import HttpError, invalid, json_response, submit_error

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .host import HttpRuntime

MAX_BODY = 1024 * 1024
MAX_MESSAGES = 2000  # entries in ``messages``
MAX_CONTENT_PARTS = 200  # parts in one message's ``content``
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_MODEL_AGENT = re.compile(r"^(?:moltbot[:/]|agent:)([a-z0-9][a-z0-9_-]{0,63})$", re.I)
NO_RESPONSE = "No response from Moltbot."


def _message(message: Any, path: fields.Path) -> None:
    fields.obj(message, path, required=("role",))
    role = fields.one_of(message["role"], (*path, "role"), _ROLES)
    content = message.get("content")
    if content is None:
        if role not in ("assistant", "tool", "function"):  # an assistant turn may be only tool calls
            raise fields.problem((*path, "content"), "must be a string or an array of content parts")
    elif not isinstance(content, str):
        parts = fields.array(content, (*path, "content"), max_items=MAX_CONTENT_PARTS)
        for index, part in enumerate(parts):
            part_path = (*path, "content", index)
            fields.obj(part, part_path)  # before looking inside: ``1 in part`` would raise on a number
            fields.obj(part, part_path, required=() if "input_text" in part else ("type",))
            kind = part.get("type")
            if kind is None:  # the reference's bare ``{input_text}`` part
                fields.string(part["input_text"], (*part_path, "input_text"))
            elif fields.string(kind, (*part_path, "type")) in ("text", "input_text"):
                fields.string(part.get("text"), (*part_path, "text"))
    fields.optional(message, "name", path, fields.string)
    fields.optional(message, "tool_call_id", path, fields.string)


def validate(body: Any) -> None:
    """The fields this endpoint reads, typed as OpenAI's API types them (first problem, by its path).

    Other OpenAI parameters (``temperature``, ``tools``, ``stream_options``, …) are accepted and ignored,
    as the reference does, so the official SDKs keep working.
    """
    fields.obj(body, (), required=("messages",))
    for index, message in enumerate(fields.array(body["messages"], ("messages",), max_items=MAX_MESSAGES)):
        _message(message, ("messages", index))
    fields.optional(body, "model", (), fields.string)
    fields.optional(body, "stream", (), fields.boolean)
    fields.optional(body, "user", (), fields.string)


def part_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict):
                texts.append(part.get("text") or part.get("input_text") or "")
            elif isinstance(part, str):
                texts.append(part)
        return "".join(texts)
    return ""


def pick_agent(runtime: HttpRuntime, model: str) -> str:
    header = request.headers.get("x-moltbot-agent-id") or request.headers.get("x-moltbot-agent")
    if header:
        return normalize_agent_id(header)
    match = _MODEL_AGENT.match(model or "")
    return match.group(1).lower() if match else runtime.agents.default_agent_id()


def session_key_for(agent_id: str, user: Any, prefix: str) -> str:
    header = request.headers.get("x-moltbot-session-key")
    if header:
        return header
    if isinstance(user, str) and user.strip():
        return f"agent:{agent_id}:{prefix}-user:{user.strip().lower()}"
    return f"agent:{agent_id}:{prefix}:{uuid.uuid4()}"


def fold_messages(messages: list[Any]) -> tuple[str, str | None]:
    """``(prompt, extra system prompt)`` from OpenAI-style messages (reference history markers)."""
    system, turns = [], []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role, text = message.get("role"), part_text(message.get("content"))
        if role in ("system", "developer"):
            if text:
                system.append(text)
        elif role == "user":
            turns.append(("User", text, True))
        elif role == "assistant":
            turns.append(("Assistant", text, False))
        elif role in ("tool", "function"):
            turns.append((f"Tool:{message.get('name') or message.get('tool_call_id') or 'tool'}", text, True))
    current = max((i for i, (_, _, counts) in enumerate(turns) if counts), default=None)
    if current is None:
        raise invalid("Missing user message in `messages`.")
    sender, body, _ = turns[current]
    earlier = [f"{who}: {text}" for who, text, _ in turns[:current] if text]
    if earlier:
        prompt = ("[Chat messages since your last reply - for context]\n" + "\n".join(earlier)
                  + f"\n\n[Current message - respond to this]\n{sender}: {body}")
    else:
        prompt = body
    return prompt, "\n\n".join(system) or None


async def chat_completions(runtime: HttpRuntime, body: Any) -> Response:
    validate(body)
    messages = body["messages"]
    model = body.get("model") or "moltbot"
    agent_id = pick_agent(runtime, model)
    if agent_id not in runtime.agents.agent_ids():
        raise invalid(f"unknown agent id: {agent_id}")
    prompt, system = fold_messages(messages)
    run_id = f"chatcmpl_{uuid.uuid4().hex}"
    try:
        run, _ = runtime.agents.submit(run_id=run_id, session_key=session_key_for(agent_id, body.get("user"), "openai"),
                                       message=prompt, dedupe="openai", agent_id=agent_id, extra_system_prompt=system)
    except Exception as exc:
        raise submit_error(exc) from None
    if body.get("stream"):
        return Response(_stream(runtime, run, model), content_type="text/event-stream; charset=utf-8",
                        headers={"Cache-Control": "no-cache", "Connection": "keep-alive"})
    await run.done.wait()
    if run.status != "ok":
        return json_response({"error": {"message": run.error or f"run {run.status}", "type": "api_error"}}, 500)
    usage = run.usage
    return json_response({
        "id": run_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": run.text or NO_RESPONSE},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage.input_tokens if usage else 0,
                  "completion_tokens": usage.output_tokens if usage else 0,
                  "total_tokens": usage.total_tokens if usage else 0},
    })


def _chunk(run: Run, model: str, created: int, delta: dict[str, Any], finish: str | None = None,
           usage: Any = None) -> bytes:
    body: dict[str, Any] = {"id": run.run_id, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return f"data: {dumps(body, separators=None)}\n\n".encode()


_MARK = "\ue000moltbot-content\ue000"


def _content_chunker(run: Run, model: str, created: int) -> Callable[[str], bytes]:
    """``_chunk(run, model, created, {"content": text})`` for many texts: the envelope is encoded once and
    only the text per delta (the same bytes)."""
    head, marker, tail = _chunk(run, model, created, {"content": _MARK}).decode().partition(
        dumps(_MARK))
    if not marker or _MARK in head or _MARK in tail:  # the model name holds the marker: no shortcut
        return lambda text: _chunk(run, model, created, {"content": text})
    return lambda text: (head + dumps(text) + tail).encode()


async def batched(steps: trio.MemoryReceiveChannel) -> AsyncIterator[list[Any]]:
    """Each wait's worth of run steps: one, plus whatever else is already queued."""
    async for first in steps:
        batch = [first]
        while True:
            try:
                batch.append(steps.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        yield batch


async def _stream(runtime: HttpRuntime, run: Run, model: str) -> AsyncIterator[bytes]:
    created = int(time.time())
    steps = run.watch()
    finished = False
    try:
        yield _chunk(run, model, created, {"role": "assistant"})
        sent_text = False
        content = _content_chunker(run, model, created)
        async for batch in batched(steps):
            pieces = [content(data["delta"])
                      for stream, data in batch if stream == "assistant" and data.get("delta")]
            if pieces:
                sent_text = True
                yield b"".join(pieces)  # what queued up while the last write was in flight: one write
        await run.done.wait()
        if run.status == "ok":
            if not sent_text:
                yield _chunk(run, model, created, {"content": run.text or NO_RESPONSE})
            usage = run.usage
            usage_body = ({"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                           "total_tokens": usage.total_tokens} if usage else None)
            yield _chunk(run, model, created, {}, "stop", usage_body)
        else:
            yield _chunk(run, model, created, {"content": f"Error: {run.error or run.status}"}, "stop")
        yield b"data: [DONE]\n\n"
        finished = True
    finally:
        steps.close()
        if not finished and not run.done.is_set():  # the client went away: stop working for it
            runtime.agents.abort(run.session_key, run.run_id, reason="disconnect")


# --- GET /v1/models ---------------------------------------------------------------------------------

MODEL_ID = "moltbot"  # the default agent; ``moltbot/<agentId>`` names one agent (as OpenClaw's ``openclaw/…``)


def model_ids(runtime: HttpRuntime) -> list[str]:
    return [MODEL_ID, *(f"{MODEL_ID}/{agent_id}" for agent_id in runtime.agents.agent_ids())]


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": MODEL_ID, "permission": []}


def _not_found(model_id: str) -> HttpError:
    return HttpError(404, {"error": {"message": f"Model '{model_id}' not found.", "type": "invalid_request_error"}})


def models(runtime: HttpRuntime, path: str) -> Response:
    """``/v1/models`` (the list) or ``/v1/models/{id}`` (one), in the OpenAI shape, with OpenClaw's errors:
    an id that cannot name an agent is 400, one that could but does not is 404."""
    ids = model_ids(runtime)
    if path == "/v1/models":
        return json_response({"object": "list", "data": [_model(model_id) for model_id in ids]})
    model_id = path[len("/v1/models/"):]
    if not model_id:
        raise invalid("Missing model id.")
    if model_id.lower() != MODEL_ID and not _MODEL_AGENT.match(model_id):
        raise invalid("Invalid model id.")
    if model_id not in ids:
        raise _not_found(model_id)
    return json_response(_model(model_id))

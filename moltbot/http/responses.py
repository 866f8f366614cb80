"""``POST /v1/responses``: the OpenResponses API in front of the agents.

The request is validated strictly (unknown keys refused with the field path) in one pass (``fields``),
with the number of input items, content parts and tools capped.
``input`` is text or items: messages (text, images, files), ``function_call`` and
``function_call_output``. Function tools in ``tools`` are the client's: when the model calls one, the
response ends ``incomplete`` with the ``function_call`` for the client to run and send back. Streaming
emits the OpenResponses event sequence as ``event:``/``data:`` SSE frames, then ``data: [DONE]``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from quart import Response

from ..protocol import dumps
from . import fields
from .common import invalid, json_response, submit_error
from .fields import Path
from .openai import batched, pick_agent, session_key_for

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .host import HttpRuntime

MAX_INPUT_ITEMS = 2000  # items in ``input``
MAX_CONTENT_PARTS = 200  # parts in one message's ``content``
MAX_TOOLS = 128  # function tools, as OpenAI's own limit

_TOP_LEVEL = {"model", "input", "instructions", "tools", "tool_choice", "stream", "max_output_tokens",
              "max_tool_calls", "user", "temperature", "top_p", "metadata", "store", "previous_response_id",
              "reasoning", "truncation"}
_ROLES = ("system", "developer", "user", "assistant")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
_PART_TYPES = ("input_text", "output_text", "input_image", "input_file")


def _source(value: Any, path: Path) -> None:
    kind = fields.one_of(fields.obj(value, path, required=("type",)).get("type"), (*path, "type"), ("url", "base64"))
    if kind == "url":
        fields.obj(value, path, required=("type", "url"), allowed=("type", "url"))
        fields.string(value["url"], (*path, "url"), non_empty=True)
    else:
        fields.obj(value, path, required=("type", "media_type", "data"), allowed=("type", "media_type", "data", "filename"))
        for key in ("media_type", "data", "filename"):
            if key in value:
                fields.string(value[key], (*path, key))


def _part(value: Any, path: Path) -> None:
    kind = fields.one_of(fields.obj(value, path, required=("type",)).get("type"), (*path, "type"), _PART_TYPES)
    if kind in ("input_text", "output_text"):
        fields.obj(value, path, required=("type", "text"), allowed=("type", "text"))
        fields.string(value["text"], (*path, "text"))
    else:
        fields.obj(value, path, required=("type", "source"), allowed=("type", "source"))
        _source(value["source"], (*path, "source"))


def _item(value: Any, path: Path) -> None:
    kind = fields.one_of(fields.obj(value, path, required=("type",)).get("type"), (*path, "type"), _ITEM_TYPES)
    if kind == "message":
        fields.obj(value, path, required=("type", "role", "content"), allowed=("type", "role", "content"))
        fields.one_of(value["role"], (*path, "role"), _ROLES)
        content = value["content"]
        if not isinstance(content, str):
            for index, part in enumerate(fields.array(content, (*path, "content"), max_items=MAX_CONTENT_PARTS)):
                _part(part, (*path, "content", index))
    elif kind == "function_call":
        fields.obj(value, path, required=("type", "name", "arguments"),
                   allowed=("type", "id", "call_id", "name", "arguments"))
        fields.string(value["name"], (*path, "name"), non_empty=True)
        for key in ("id", "call_id", "arguments"):
            if key in value:
                fields.string(value[key], (*path, key))
    elif kind == "function_call_output":
        fields.obj(value, path, required=("type", "call_id", "output"), allowed=("type", "call_id", "output"))
        fields.string(value["call_id"], (*path, "call_id"))
        fields.string(value["output"], (*path, "output"))


def _tool(value: Any, path: Path) -> None:
    fields.obj(value, path, required=("type", "function"), allowed=("type", "function"))
    fields.one_of(value["type"], (*path, "type"), ("function",))
    function = fields.obj(value["function"], (*path, "function"), required=("name",),
                          allowed=("name", "description", "parameters"))
    fields.string(function["name"], (*path, "function", "name"), non_empty=True)
    fields.optional(function, "description", (*path, "function"), fields.string)
    fields.optional(function, "parameters", (*path, "function"), fields.obj)


def validate(body: Any) -> None:
    """The OpenResponses request shape; unknown keys are refused with their path (first problem only)."""
    fields.obj(body, (), required=("model", "input"), allowed=_TOP_LEVEL)
    fields.string(body["model"], ("model",))
    if not isinstance(body["input"], str):
        for index, item in enumerate(fields.array(body["input"], ("input",), max_items=MAX_INPUT_ITEMS)):
            _item(item, ("input", index))
    fields.optional(body, "instructions", (), fields.string)
    if body.get("tools") is not None:
        for index, tool in enumerate(fields.array(body["tools"], ("tools",), max_items=MAX_TOOLS)):
            _tool(tool, ("tools", index))
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, dict):
        fields.one_of(choice, ("tool_choice",), ("auto", "none", "required"))
    fields.optional(body, "stream", (), fields.boolean)
    fields.optional(body, "max_output_tokens", (), fields.integer, minimum=1)
    fields.optional(body, "max_tool_calls", (), fields.integer, minimum=0)
    fields.optional(body, "user", (), fields.string)


def _file_text(part: dict[str, Any], runtime: HttpRuntime) -> str:
    source = part["source"]
    if source["type"] != "base64":
        raise invalid("input_file: url sources are not fetched by this gateway; send the file as base64")
    limits = runtime.config.gateway.http.endpoints.responses.files
    try:
        raw = base64.b64decode(source["data"], validate=False)
    except binascii.Error:
        raise invalid("input_file: source.data is not valid base64") from None
    if len(raw) > limits.max_bytes:
        raise invalid(f"input_file: {len(raw)} bytes is more than files.maxBytes ({limits.max_bytes})")
    if source.get("media_type") == "application/pdf":
        raise invalid("input_file: PDF input is not supported yet")
    text = raw.decode("utf-8", errors="replace")[: limits.max_chars]
    return f'<file name="{source.get("filename") or "file"}">{text}</file>'


def build_prompt(body: dict[str, Any], runtime: HttpRuntime) -> tuple[str, str | None]:
    system = [body["instructions"]] if body.get("instructions") else []
    items = body["input"]
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    turns: list[tuple[str, str]] = []
    for item in items:
        kind = item["type"]
        if kind == "message":
            content = item["content"]
            parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
            texts = []
            for part in parts:
                if part["type"] in ("input_text", "output_text"):
                    texts.append(part["text"])
                elif part["type"] == "input_file":
                    system.append(_file_text(part, runtime))
                else:
                    source: Any = part["source"]
                    texts.append(f"[image: {source.get('media_type') or source.get('url')}]")
            text = "\n".join(texts)
            if item["role"] in ("system", "developer"):
                system.append(text)
            else:
                turns.append(("User" if item["role"] == "user" else "Assistant", text))
        elif kind == "function_call":
            turns.append(("Assistant", f"(called {item['name']} with {item['arguments']})"))
        elif kind == "function_call_output":
            turns.append((f"Tool:{item['call_id']}", item["output"]))
    if not turns or turns[-1][0] == "Assistant":
        raise invalid("input: no user message or function_call_output to respond to")
    if body.get("tool_choice") == "required":
        system.append("You must call one of the provided tools.")
    sender, current = turns[-1]
    earlier = [f"{who}: {text}" for who, text in turns[:-1] if text]
    prompt = current if not earlier else (
        "[Chat messages since your last reply - for context]\n" + "\n".join(earlier)
        + f"\n\n[Current message - respond to this]\n{sender}: {current}")
    return prompt, "\n\n".join(system) or None


def _resource(run: Run, model: str, created: int, message_id: str) -> dict[str, Any]:
    usage = run.usage
    result: dict[str, Any] = {"id": f"resp_{run.run_id}", "object": "response", "created_at": created,
                              "status": "completed", "model": model, "output": [],
                              "usage": {"input_tokens": usage.input_tokens if usage else 0,
                                        "output_tokens": usage.output_tokens if usage else 0,
                                        "total_tokens": usage.total_tokens if usage else 0}}
    if run.status != "ok":
        result.update(status="failed", error={"code": "api_error", "message": run.error or run.status})
        return result
    if run.text:
        result["output"].append({"type": "message", "id": message_id, "role": "assistant", "status": "completed",
                                 "content": [{"type": "output_text", "text": run.text, "annotations": []}]})
    for call in run.client_tool_calls:
        result["output"].append({"type": "function_call", "id": f"call_{uuid.uuid4().hex[:12]}", "call_id": call.id,
                                 "name": call.name, "arguments": json.dumps(call.arguments), "status": "completed"})
    if run.client_tool_calls:
        result["status"] = "incomplete"
    return result


async def responses(runtime: HttpRuntime, body: Any) -> Response:
    validate(body)
    model = body["model"]
    agent_id = pick_agent(runtime, model)
    if agent_id not in runtime.agents.agent_ids():
        raise invalid(f"model: unknown agent id: {agent_id}")
    prompt, system = build_prompt(body, runtime)
    client_tools = [(t["function"]["name"], t["function"].get("description", ""),
                     t["function"].get("parameters") or {"type": "object", "properties": {}})
                    for t in body.get("tools") or []] if body.get("tool_choice") != "none" else []
    try:
        run, _ = runtime.agents.submit(
            run_id=uuid.uuid4().hex, session_key=session_key_for(agent_id, body.get("user"), "openresponses"),
            message=prompt, dedupe="responses", agent_id=agent_id, extra_system_prompt=system,
            client_tools=client_tools)
    except Exception as exc:
        raise submit_error(exc) from None
    created, message_id = int(time.time()), f"msg_{uuid.uuid4().hex}"
    if body.get("stream"):
        return Response(_stream(runtime, run, model, created, message_id),
                        content_type="text/event-stream; charset=utf-8", headers={"Cache-Control": "no-cache"})
    await run.done.wait()
    resource = _resource(run, model, created, message_id)
    return json_response(resource, 500 if resource["status"] == "failed" else 200)


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {dumps({'type': kind, **data}, separators=None)}\n\n".encode()


async def _stream(runtime: HttpRuntime, run: Run, model: str, created: int, message_id: str) -> AsyncIterator[bytes]:
    steps = run.watch()
    finished = False
    base = {"id": f"resp_{run.run_id}", "object": "response", "created_at": created, "model": model, "output": []}
    message = {"type": "message", "id": message_id, "role": "assistant", "status": "in_progress", "content": []}
    try:
        yield _event("response.created", {"response": {**base, "status": "in_progress"}})
        yield _event("response.in_progress", {"response": {**base, "status": "in_progress"}})
        yield _event("response.output_item.added", {"output_index": 0, "item": message})
        yield _event("response.content_part.added", {"item_id": message_id, "output_index": 0, "content_index": 0,
                                                     "part": {"type": "output_text", "text": "", "annotations": []}})
        async for batch in batched(steps):
            pieces = [_event("response.output_text.delta", {"item_id": message_id, "output_index": 0,
                                                            "content_index": 0, "delta": data["delta"]})
                      for stream, data in batch if stream == "assistant" and data.get("delta")]
            if pieces:
                yield b"".join(pieces)
        await run.done.wait()
        resource = _resource(run, model, created, message_id)
        if resource["status"] == "failed":
            yield _event("response.failed", {"response": resource})
        part = {"type": "output_text", "text": run.text, "annotations": []}
        yield _event("response.output_text.done", {"item_id": message_id, "output_index": 0, "content_index": 0,
                                                   "text": run.text})
        yield _event("response.content_part.done", {"item_id": message_id, "output_index": 0, "content_index": 0,
                                                    "part": part})
        yield _event("response.output_item.done", {"output_index": 0, "item": {**message, "status": "completed",
                                                                                "content": [part]}})
        for index, item in enumerate((i for i in resource["output"] if i["type"] == "function_call"), start=1):
            yield _event("response.output_item.added", {"output_index": index, "item": item})
            yield _event("response.output_item.done", {"output_index": index, "item": item})
        yield _event("response.completed", {"response": resource})
        yield b"data: [DONE]\n\n"
        finished = True
    finally:
        steps.close()
        if not finished and not run.done.is_set():
            runtime.agents.abort(run.session_key, run.run_id, reason="disconnect")

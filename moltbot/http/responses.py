"""``POST /v1/responses``: the OpenResponses API in front of the agents (reference §6.3).

The request is validated strictly (unknown keys refused with the field path) by a JSON Schema.
``input`` is text or items: messages (text, images, files), ``function_call`` and
``function_call_output``. Function tools in ``tools`` are the client's: when the model calls one, the
response ends ``incomplete`` with the ``function_call`` for the client to run and send back. Streaming
emits the OpenResponses event sequence as ``event:``/``data:`` SSE frames, then ``data: [DONE]``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import jsonschema
from quart import Response

from ..protocol._codec import dumps
from .common import HttpError, invalid, json_response
from .openai import batched, pick_agent, session_key_for

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from ..gateway.runtime import Runtime

_TEXT_PART = {"type": "object", "additionalProperties": False, "required": ["type", "text"],
              "properties": {"type": {"enum": ["input_text", "output_text"]}, "text": {"type": "string"}}}
_SOURCE = {"type": "object", "oneOf": [
    {"additionalProperties": False, "required": ["type", "url"],
     "properties": {"type": {"const": "url"}, "url": {"type": "string", "minLength": 1}}},
    {"additionalProperties": False, "required": ["type", "media_type", "data"],
     "properties": {"type": {"const": "base64"}, "media_type": {"type": "string"}, "data": {"type": "string"},
                    "filename": {"type": "string"}}},
]}
_MEDIA_PART = {"type": "object", "additionalProperties": False, "required": ["type", "source"],
               "properties": {"type": {"enum": ["input_image", "input_file"]}, "source": _SOURCE}}
_ITEM = {"type": "object", "required": ["type"], "oneOf": [
    {"additionalProperties": False, "required": ["type", "role", "content"], "properties": {
        "type": {"const": "message"}, "role": {"enum": ["system", "developer", "user", "assistant"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"anyOf": [_TEXT_PART, _MEDIA_PART]}}]}}},
    {"additionalProperties": False, "required": ["type", "name", "arguments"], "properties": {
        "type": {"const": "function_call"}, "id": {"type": "string"}, "call_id": {"type": "string"},
        "name": {"type": "string", "minLength": 1}, "arguments": {"type": "string"}}},
    {"additionalProperties": False, "required": ["type", "call_id", "output"], "properties": {
        "type": {"const": "function_call_output"}, "call_id": {"type": "string"}, "output": {"type": "string"}}},
    {"required": ["type"], "properties": {"type": {"enum": ["reasoning", "item_reference"]}}},
]}
REQUEST_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": _ITEM}]},
        "instructions": {"type": "string"},
        "tools": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                             "required": ["type", "function"], "properties": {
            "type": {"const": "function"},
            "function": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1}, "description": {"type": "string"},
                "parameters": {"type": "object"}}}}}},
        "tool_choice": {"anyOf": [{"enum": ["auto", "none", "required"]}, {"type": "object"}]},
        "stream": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "max_tool_calls": {"type": "integer", "minimum": 0},
        "user": {"type": "string"},
        **{name: {} for name in ("temperature", "top_p", "metadata", "store", "previous_response_id", "reasoning",
                                 "truncation")},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(REQUEST_SCHEMA)


def validate(body: Any) -> None:
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "<root>"
        raise invalid(f"{where}: {error.message}")


def _file_text(part: dict[str, Any], runtime: Runtime) -> str:
    source = part["source"]
    if source["type"] != "base64":
        raise invalid("input_file: url sources are not fetched by this gateway; send the file as base64")
    limits = runtime.config.gateway.http.endpoints.responses.files
    raw = base64.b64decode(source["data"], validate=False)
    if len(raw) > limits.max_bytes:
        raise invalid(f"input_file: {len(raw)} bytes is more than files.maxBytes ({limits.max_bytes})")
    if source.get("media_type") == "application/pdf":
        raise invalid("input_file: PDF input is not supported yet")
    text = raw.decode("utf-8", errors="replace")[: limits.max_chars]
    return f'<file name="{source.get("filename") or "file"}">{text}</file>'


def build_prompt(body: dict[str, Any], runtime: Runtime) -> tuple[str, str | None]:
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
                    texts.append(f"[image: {part['source'].get('media_type') or part['source'].get('url')}]")
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


async def responses(runtime: Runtime, body: Any) -> Response:
    validate(body)
    model = body["model"]
    agent_id = pick_agent(runtime, model)
    if agent_id not in runtime.agents.agent_ids():
        raise invalid(f"model: unknown agent id: {agent_id}")
    prompt, system = build_prompt(body, runtime)
    client_tools = [(t["function"]["name"], t["function"].get("description", ""),
                     t["function"].get("parameters") or {"type": "object", "properties": {}})
                    for t in body.get("tools", [])] if body.get("tool_choice") != "none" else []
    try:
        run, _ = runtime.agents.submit(
            run_id=uuid.uuid4().hex, session_key=session_key_for(agent_id, body.get("user"), "openresponses"),
            message=prompt, dedupe="responses", agent_id=agent_id, extra_system_prompt=system,
            client_tools=client_tools)
    except Exception as exc:
        raise HttpError(503, {"error": {"message": getattr(exc, "message", str(exc)), "type": "api_error"}}) from None
    created, message_id = int(time.time()), f"msg_{uuid.uuid4().hex}"
    if body.get("stream"):
        return Response(_stream(runtime, run, model, created, message_id),
                        content_type="text/event-stream; charset=utf-8", headers={"Cache-Control": "no-cache"})
    await run.done.wait()
    resource = _resource(run, model, created, message_id)
    return json_response(resource, 500 if resource["status"] == "failed" else 200)


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {dumps({'type': kind, **data}, separators=None)}\n\n".encode()


async def _stream(runtime: Runtime, run: Run, model: str, created: int, message_id: str) -> AsyncIterator[bytes]:
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

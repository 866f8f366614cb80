"""One agent turn: history + the new message → the model → tools → the model … → the reply.

The user's message is appended to the transcript before the model is asked, the reply after it answers,
each as one whole JSONL line. Tool calls loop back to the model at most ``MAX_TOOL_STEPS`` times.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import trio

from .providers.base import Message, ModelRequest, Provider, TextDelta, ToolCall, Usage
from .sessions import message_line, message_text, now_ms

if TYPE_CHECKING:
    from .runtime import AgentRuntime, Run

MAX_TOOL_STEPS = 8
HISTORY_MESSAGES = 50
YIELD_EVERY = 0.001  # seconds of delta decoding between checkpoints


def system_prompt(runtime: AgentRuntime, run: Run) -> str:
    agent = next((a for a in runtime.config.agents.entries if a.id == run.agent_id), None)
    name = (agent.identity.name if agent and agent.identity and agent.identity.name else None) or "Molty"
    prompt = f"You are {name}, an assistant reached through the moltbot gateway (agent id {run.agent_id})."
    if run.extra_system_prompt:
        prompt += "\n\n" + run.extra_system_prompt
    return prompt


async def run_turn(runtime: AgentRuntime, run: Run, provider: Provider, model: str) -> None:
    store = runtime.store(run.agent_id)
    await store.load()
    fresh = run.session_key not in store.entries
    entry = await store.ensure(run.session_key)
    path = store.transcript_path(entry)
    # The user line is written while the model is asked (readers of the transcript wait for it), and is on
    # disk before the turn goes on past the model, whatever happened there.
    history = await store.begin_turn(path, message_line("user", run.message), entry["sessionId"], HISTORY_MESSAGES,
                                     fresh=fresh, spawn=runtime.spawn)
    try:
        await _ask_model(runtime, run, provider, model, history)
    finally:
        with trio.CancelScope(shield=True):
            await store.settled(path, owner=True)
    usage = run.usage
    extra = {"stopReason": "stop", "model": model, "provider": provider.id}
    if usage is not None:
        extra["usage"] = {"input": usage.input_tokens, "output": usage.output_tokens, "total": usage.total_tokens}
    entry.update({"updatedAt": now_ms(), "model": model, "modelProvider": provider.id})
    entry.update(run.route or {"lastChannel": "webchat"})
    if usage is not None:
        entry.update({"inputTokens": entry.get("inputTokens", 0) + usage.input_tokens,
                      "outputTokens": entry.get("outputTokens", 0) + usage.output_tokens,
                      "totalTokens": entry.get("totalTokens", 0) + usage.total_tokens})
    # The reply line, then the store (one thread hop): both on disk before the run reports its end.
    await store.append_and_save(path, [message_line("assistant", run.text, **extra)], entry["sessionId"])


async def _ask_model(runtime: AgentRuntime, run: Run, provider: Provider, model: str,
                     history: list[dict[str, Any]]) -> None:
    messages = [Message(role=m["role"], content=message_text(m)) for m in history
                if m.get("role") in ("user", "assistant") and message_text(m)]
    messages.append(Message(role="user", content=run.message))
    tools = [*(runtime.tools.specs() if runtime.tools else ()), *run.client_tools]
    client_names = {spec.name for spec in run.client_tools}
    yielded = trio.current_time()
    for _ in range(MAX_TOOL_STEPS):
        request = ModelRequest(model=model, messages=tuple(messages), system=system_prompt(runtime, run),
                               tools=tuple(tools))
        calls: list[ToolCall] = []
        step_text = ""
        async with aclosing(provider.stream(request)) as chunks:
            async for chunk in chunks:
                if isinstance(chunk, TextDelta):
                    first = not run.text
                    step_text += chunk.text
                    runtime.assistant_delta(run, chunk.text)
                    # A provider's read can hold hundreds of deltas, decoded without a checkpoint: let the
                    # first token, then what came every YIELD_EVERY, go out to the listeners meanwhile.
                    now = trio.current_time()
                    if first or now - yielded >= YIELD_EVERY:
                        yielded = now
                        await trio.lowlevel.checkpoint()
                elif isinstance(chunk, ToolCall):
                    calls.append(chunk)
                elif isinstance(chunk, Usage):
                    previous = run.usage or Usage()
                    run.usage = Usage(previous.input_tokens + chunk.input_tokens,
                                      previous.output_tokens + chunk.output_tokens)
        if not calls:
            break
        if any(call.name in client_names for call in calls):  # the caller runs these: stop and hand over
            run.client_tool_calls = [call for call in calls if call.name in client_names]
            break
        messages.append(Message(role="assistant", content=step_text, tool_calls=tuple(calls)))
        for call in calls:
            runtime.event(run, "tool", {"phase": "start", "name": call.name, "toolCallId": call.id,
                                        "args": call.arguments})
            result, is_error = await runtime.tools.invoke(call.name, call.arguments, run=run)
            runtime.event(run, "tool", {"phase": "result", "name": call.name, "toolCallId": call.id,
                                        "meta": None, "isError": is_error, "result": result})
            messages.append(Message(role="tool", content=json.dumps(result), tool_call_id=call.id, name=call.name))

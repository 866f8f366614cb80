"""One agent turn: history + the new message → the model → tools → the model … → the reply.

The user's message is appended to the transcript before the model is asked; the tool calls and results
(the reference's format: an assistant message with ``toolCall`` parts, then one ``toolResult`` message
per call) and the reply after it answers, each as one whole JSONL line. Tool calls loop back to the
model at most ``MAX_TOOL_STEPS`` times; the tools offered are those the agent's policy admits. Every model
call of the turn asks for the turn's thinking level (``thinking.py``); a step's reasoning blocks go back to
the model with its tool calls.
"""

from __future__ import annotations

import datetime
import json
import logging
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .compaction import cleared, should_compact, summarize_session
from .prompt import PromptInput, build_system_prompt, neutralize_system_lines
from .providers.base import (
    Message,
    ModelRequest,
    Provider,
    ProviderError,
    TextDelta,
    Thinking,
    ToolCall,
    ToolSpec,
    Usage,
)
from .sessions import SessionStore, iso_now, message_line, message_text, now_ms
from .thinking import turn_level
from .tools import policy_for
from .usage import context_tokens, model_price, record_run, usage_record
from .workspace import BOOTSTRAP_ORDER, daily_memory_name

if TYPE_CHECKING:
    from .runtime import AgentRuntime, Run

log = logging.getLogger("moltbot.agents")

MAX_TOOL_STEPS = 8
HISTORY_MESSAGES = 50
YIELD_EVERY = 0.001  # seconds of delta decoding between checkpoints
MAX_TOOL_RESULT_CHARS = 100_000
SUMMARY_PREFIX = ("The conversation history before this point was compacted into the following summary:\n\n"
                  "<summary>\n")
SUMMARY_SUFFIX = "\n</summary>"  # of one tool result, as the model and the transcript see it


async def system_prompt(runtime: AgentRuntime, run: Run, tools: list[ToolSpec]) -> str:
    """The turn's system prompt (``prompt.py``): identity, tools, safety, the workspace files."""
    config = runtime.config
    agent = next((a for a in config.agents.entries if a.id == run.agent_id), None)
    identity = agent.identity if agent else None
    name = (identity.name if identity and identity.name else None) or (agent.name if agent else None) or "Molty"
    workspace = await runtime.ensure_workspace(run.agent_id)
    day = datetime.date.today()
    yesterday = day.fromordinal(day.toordinal() - 1)
    names = (*BOOTSTRAP_ORDER, daily_memory_name(yesterday), daily_memory_name(day))
    files = await trio.to_thread.run_sync(runtime.workspace_files.read, workspace, names)
    defaults = config.agents.defaults
    group = run.sender.group if run.sender is not None else (":group:" in run.session_key
                                                             or ":channel:" in run.session_key)
    return build_system_prompt(PromptInput(
        agent_id=run.agent_id, name=name, emoji=identity.emoji if identity else None, workspace=str(workspace),
        files=files[:len(BOOTSTRAP_ORDER)], daily=files[len(BOOTSTRAP_ORDER):], tools=tools, group=group,
        subagent=run.spawned_by is not None, per_file_max=defaults.bootstrap_max_chars,
        total_max=defaults.bootstrap_total_max_chars, extra=run.extra_system_prompt, today=day))


async def run_turn(runtime: AgentRuntime, run: Run, provider: Provider, model: str) -> None:
    store = runtime.store(run.agent_id)
    await store.load()
    fresh = run.session_key not in store.entries
    entry = await store.ensure(run.session_key, **({"spawnedBy": run.spawned_by} if run.spawned_by else {}))
    path = store.transcript_path(entry)
    run.message = neutralize_system_lines(run.message)  # any source: a user line never speaks for the system
    provider, model = session_model(runtime, run, entry, provider, model)
    window = context_tokens(runtime.config, provider.models(), model)
    thinking = thinking_level(runtime, run, entry, provider, model)
    if not fresh and should_compact(runtime.config, entry, window):
        await auto_compact(runtime, run, store, entry, path, provider, model)
    # The user line is written while the model is asked (readers of the transcript wait for it), and is on
    # disk before the turn goes on past the model, whatever happened there.
    history = await store.begin_turn(path, message_line("user", run.message), entry["sessionId"], HISTORY_MESSAGES,
                                     fresh=fresh, spawn=runtime.spawn)
    try:
        try:
            last_call, reply_usage = await _ask_model(runtime, run, provider, model, history, thinking)
        except ProviderError as exc:
            # The history did not fit (the provider says so): compact, then ask once more, as the original
            # retries after compacting. Only before anything of the turn happened (no text, no tool run).
            if not context_overflow(exc) or run.text or run.tool_log:
                raise
            if not await auto_compact(runtime, run, store, entry, path, provider, model, retry=True):
                raise
            history = await store.recent_messages(path, HISTORY_MESSAGES + 1)
            if history and history[-1].get("role") == "user":  # this turn's own line: _ask_model adds it
                history = history[:-1]
            last_call, reply_usage = await _ask_model(runtime, run, provider, model, history[-HISTORY_MESSAGES:],
                                                      thinking)
    finally:
        with trio.CancelScope(shield=True):
            await store.settled(path, owner=True)
    extra: dict[str, Any] = {"stopReason": "stop", "model": model, "provider": provider.id}
    if reply_usage is not None:
        extra["usage"] = usage_record(reply_usage, model_price(runtime.config, provider.id, model))
    entry.update({"updatedAt": now_ms(), "model": model, "modelProvider": provider.id})
    entry.update(run.route or {"lastChannel": "webchat"})
    record_run(entry, run.usage, last_call, window)
    # The tool lines and the reply line, then the store (one thread hop): on disk before the run ends.
    lines = [*run.tool_log, message_line("assistant", run.text[run.reply_start:], **extra)]
    await store.append_and_save(path, lines, entry["sessionId"])


def tool_events_wanted(runtime: AgentRuntime, run: Run) -> bool:
    """Tool calls and results go out as ``agent`` events (stream ``tool``) only for a verbose session (its
    ``verboseLevel``, else ``agents.defaults.verboseDefault``, is ``on``/``full``), as the original sends them;
    the transcript and the run's own listeners have them always."""
    entry = runtime.store(run.agent_id).entries.get(run.session_key) or {}
    level = entry.get("verboseLevel") or runtime.config.agents.defaults.verbose_default
    return level in ("on", "full")


def session_model(runtime: AgentRuntime, run: Run, entry: dict[str, Any], provider: Provider,
                  model: str) -> tuple[Provider, str]:
    """The session's own model (``/model``: ``providerOverride``/``modelOverride``) unless the run names one
    (a cron job's); an override that no longer resolves is reported and the agent's model used."""
    override, provider_id = entry.get("modelOverride"), entry.get("providerOverride")
    if run.model or not isinstance(override, str) or not override:
        return provider, model
    reference = f"{provider_id}/{override}" if isinstance(provider_id, str) and provider_id else override
    try:
        return runtime._resolve_provider(run.agent_id, reference)
    except ProviderError as exc:
        log.warning("session %s: model override %s unusable (%s); using %s", run.session_key, reference,
                    exc.message, model)
        return provider, model


def thinking_level(runtime: AgentRuntime, run: Run, entry: dict[str, Any], provider: Provider,
                   model: str) -> str | None:
    """The level the turn asks for: the run's, else the session's ``thinkingLevel``, else
    ``agents.defaults.thinkingDefault``; none for a model the catalog marks ``reasoning: false``."""
    info = next((info for info in provider.models() if info.id == model), None)
    if info is not None and info.reasoning is False:
        return None
    return turn_level(run.thinking, entry.get("thinkingLevel"), runtime.config.agents.defaults.thinking_default)


OVERFLOW_HINTS = ("context length", "context_length", "context window", "prompt is too long", "too many tokens",
                  "maximum context", "request_too_large", "input is too long")


def context_overflow(exc: ProviderError) -> bool:
    """Whether a provider's error says the conversation does not fit its context window."""
    text = exc.message.lower()
    return exc.status in (400, 413, None) and any(hint in text for hint in OVERFLOW_HINTS)


async def auto_compact(runtime: AgentRuntime, run: Run, store: SessionStore, entry: dict[str, Any], path: Path,
                       provider: Provider, model: str, *, retry: bool = False) -> bool:
    """Compact before the turn (or, ``retry``, before asking again after an overflow); whether it did.
    A failure is logged and the turn goes on uncompacted."""
    runtime.event(run, "compaction", {"phase": "start"})
    settings = runtime.config.agents.defaults.compaction
    try:
        result = await summarize_session(store, path, provider, model, keep_tokens=settings.keep_recent_tokens,
                                         price=model_price(runtime.config, provider.id, model))
    except ProviderError as exc:
        log.warning("session %s: compaction failed: %s", run.session_key, exc.message)
        result = None
    compacted = result is not None and result.compacted
    if compacted:
        cleared(entry)
        await store.save()
    runtime.event(run, "compaction", {"phase": "end", "willRetry": retry and compacted})
    return compacted


def replay(history: list[dict[str, Any]]) -> list[Message]:
    """Transcript messages as provider messages. Tool calls come back with their results; a call whose
    result is not in the window (cut by ``HISTORY_MESSAGES``), or a result whose call is not, is left
    out, since providers refuse a conversation where the two do not pair up."""
    out: list[Message] = []
    answered = {m.get("toolCallId") for m in history if m.get("role") == "toolResult"}
    offered: set[str] = set()
    for m in history:
        role, text = m.get("role"), message_text(m)
        if role == "user" and text:
            out.append(Message(role="user", content=text))
        elif role == "compactionSummary" and text:  # as the reference's agent library hands it to the model
            out.append(Message(role="user", content=SUMMARY_PREFIX + text + SUMMARY_SUFFIX))
        elif role == "assistant":
            calls = tuple(ToolCall(id=part["id"], name=part.get("name", ""), arguments=part.get("arguments") or {})
                          for part in m.get("content") or () if isinstance(part, dict)
                          and part.get("type") == "toolCall" and isinstance(part.get("id"), str)
                          and part["id"] in answered)
            offered.update(call.id for call in calls)
            if text or calls:
                out.append(Message(role="assistant", content=text, tool_calls=calls))
        elif role == "toolResult" and m.get("toolCallId") in offered:
            out.append(Message(role="tool", content=text, tool_call_id=m["toolCallId"], name=m.get("toolName")))
    return out


def _tool_call_line(text: str, calls: list[ToolCall], model: str, provider: str,
                    usage: dict[str, Any] | None) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "toolCall", "id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]
    message = {"role": "assistant", "content": content, "timestamp": now_ms(), "stopReason": "toolUse",
               "model": model, "provider": provider}
    if usage is not None:
        message["usage"] = usage
    return {"type": "message", "id": f"{now_ms():x}"[-8:], "timestamp": iso_now(), "message": message}


def _tool_result_line(call: ToolCall, text: str, is_error: bool) -> dict[str, Any]:
    return {"type": "message", "id": f"{now_ms():x}"[-8:], "timestamp": iso_now(),
            "message": {"role": "toolResult", "toolCallId": call.id, "toolName": call.name,
                        "content": [{"type": "text", "text": text}], "isError": is_error, "timestamp": now_ms()}}


def result_text(result: Any) -> str:
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        text = text[:MAX_TOOL_RESULT_CHARS] + f"\n[... tool result cut at {MAX_TOOL_RESULT_CHARS} characters ...]"
    return text


async def _ask_model(runtime: AgentRuntime, run: Run, provider: Provider, model: str,
                     history: list[dict[str, Any]], thinking: str | None = None) -> tuple[Usage | None, Usage | None]:
    """Ask the model, run its tools, ask again …; ``run.usage`` adds up every call's tokens. Returns the
    last call's usage (its prompt is how full the context is) and the usage for the reply line (the same,
    unless the last call's tool line has it); ``None`` when the provider said nothing."""
    messages = replay(history)
    messages.append(Message(role="user", content=run.message))
    policy = policy_for(runtime.config, run.agent_id)
    builtin = runtime.tools.specs(policy) if runtime.tools else []
    tools = [*builtin, *run.client_tools]
    client_names = {spec.name for spec in run.client_tools}
    system = await system_prompt(runtime, run, builtin)
    yielded = trio.current_time()
    price = model_price(runtime.config, provider.id, model)
    verbose = tool_events_wanted(runtime, run)
    step_usage: Usage | None = None
    for _ in range(MAX_TOOL_STEPS):
        request = ModelRequest(model=model, messages=tuple(messages), system=system, tools=tuple(tools),
                               thinking=thinking)
        calls: list[ToolCall] = []
        reasoning: list[dict[str, Any]] = []
        step_text = ""
        step_usage = None
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
                elif isinstance(chunk, Thinking):
                    reasoning.append(chunk.block)
                elif isinstance(chunk, Usage):
                    step_usage = (step_usage or Usage()) + chunk
                    run.usage = (run.usage or Usage()) + chunk
        if not calls:
            break
        if any(call.name in client_names for call in calls):  # the caller runs these: stop and hand over
            run.client_tool_calls = [call for call in calls if call.name in client_names]
            break
        messages.append(Message(role="assistant", content=step_text, tool_calls=tuple(calls),
                                thinking=tuple(reasoning)))
        run.reply_start = len(run.text)  # the transcript's reply line holds the text after the last tool step
        run.tool_log.append(_tool_call_line(step_text, calls, model, provider.id,
                                            usage_record(step_usage, price) if step_usage else None))
        for call in calls:
            runtime.event(run, "tool", {"phase": "start", "name": call.name, "toolCallId": call.id,
                                        "args": call.arguments}, broadcast=verbose)
            result, is_error = await runtime.tools.invoke(call.name, call.arguments, run=run, policy=policy)
            runtime.event(run, "tool", {"phase": "result", "name": call.name, "toolCallId": call.id,
                                        "meta": None, "isError": is_error, "result": result}, broadcast=verbose)
            text = result_text(result)
            run.tool_log.append(_tool_result_line(call, text, is_error))
            messages.append(Message(role="tool", content=text, tool_call_id=call.id, name=call.name))
    else:  # out of steps: the last call's usage is on its tool line already, not again on the reply's
        return step_usage, None
    return step_usage, step_usage

"""Session chat commands: ``/status``, ``/new``, ``/reset``, ``/compact``, ``/model [id]``, ``/think [level]``.

They answer from any channel (and ``chat.send``) without the model, as ``agents/commands.py`` runs
commands. ``/status`` answers anyone who may talk to the agent; the others change the session and
answer only the owner (``Sender.owner``: named in the account's ``allowFrom``; an operator's ``chat.send``
has no sender and is the owner), as the original answers commands only from authorized senders.

``/new`` and ``/reset`` stop the session's running turn, then give it a new ``sessionId`` (a new
transcript; the old one stays on disk) with its preferences kept, as ``sessions.reset``. ``/compact``
summarises the older turns with the session's model (``agents/compaction.py``) after waiting for the
session's place in its lane; like every command it must finish within the command timeout (30 s), and a
compaction cut short leaves the transcript as it was. ``/model <provider/model>`` sets the session's
``providerOverride``/``modelOverride`` (checked against the configured providers; ``/model default``
clears it); its turns then use it (``turns.session_model``). ``/think <level>`` stores ``thinkingLevel``,
shown by ``/status`` and ``sessions.list``; the session's turns ask the model for it (``agents/thinking.py``:
OpenAI-compatible ``reasoning_effort``, Anthropic's thinking budget).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ..agents.compaction import cleared, summarize_session
from ..agents.providers.base import ProviderError
from ..agents.sessions import now_ms
from ..agents.thinking import THINK_LEVELS, normalize_level
from ..agents.usage import context_tokens, model_price
from ..protocol import ProtocolError

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .runtime import Runtime

OWNER_ONLY = "Only the owner can change this session."


def _refused(run: Run) -> bool:
    return run.sender is not None and not run.sender.owner


def _tokens(count: int) -> str:
    return f"{count / 1000:.1f}k" if count >= 1000 else str(count)


def register_session_commands(runtime: Runtime) -> None:
    agents = runtime.agents

    async def entry_of(run: Run):
        store = agents.store(run.agent_id)
        await store.load()
        return store, store.entries.get(run.session_key)

    def current_model(run: Run, entry: dict | None) -> tuple[str, str]:
        if entry and entry.get("modelOverride"):
            provider = entry.get("providerOverride")
            return "session override", f"{provider}/{entry['modelOverride']}" if provider else entry["modelOverride"]
        try:
            provider, model = runtime.resolve_provider(run.agent_id)
        except ProviderError as exc:
            return "not usable", exc.message
        return "agent default", f"{provider.id}/{model}"

    async def status(run: Run, args: list[str]) -> str:
        _, entry = await entry_of(run)
        source, model = current_model(run, entry)
        lines = [f"Session {run.session_key}" + (f" ({entry['sessionId'][:8]})" if entry else " (no turns yet)"),
                 f"Model: {model} ({source})"]
        if entry:
            window = entry.get("contextTokens")
            used = entry.get("totalTokens")
            if isinstance(used, int) and isinstance(window, int) and window:
                lines.append(f"Context: {_tokens(used)} of {_tokens(window)} ({100 * used // window}%)")
            if "inputTokens" in entry or "outputTokens" in entry:
                lines.append(f"Last run: {entry.get('inputTokens', 0)} in, {entry.get('outputTokens', 0)} out")
            lines.append(f"Compactions: {entry.get('compactionCount', 0)} · thinking: "
                         f"{entry.get('thinkingLevel') or 'off'}")
        return "\n".join(lines)

    async def reset(run: Run, args: list[str]) -> str:
        if _refused(run):
            return OWNER_ONLY
        for other in list(agents.runs.values()):  # the session's running turn, not this command itself
            if other.session_key == run.session_key and other is not run and not other.done.is_set():
                other.stop_reason = "reset"
                other.scope.cancel(reason="abort: reset")
        store, entry = await entry_of(run)
        if entry is None:
            return "New session started."
        async with agents.lanes.slot(agents.lanes.reserve(run.session_key, "compaction")):
            for field in ("inputTokens", "outputTokens", "totalTokens", "sessionFile", "compactionCount"):
                entry.pop(field, None)
            entry.update({"sessionId": str(uuid.uuid4()), "updatedAt": now_ms()})
            await store.save()
        return "New session started."

    async def compact(run: Run, args: list[str]) -> str:
        if _refused(run):
            return OWNER_ONLY
        store, entry = await entry_of(run)
        if entry is None:
            return "Nothing to compact yet."
        async with agents.lanes.slot(agents.lanes.reserve(run.session_key, "compaction")):
            reference = current_model(run, entry)[1]
            try:
                provider, model = runtime.resolve_provider(run.agent_id, reference)
                result = await summarize_session(
                    store, store.transcript_path(entry), provider, model,
                    keep_tokens=runtime.config.agents.defaults.compaction.keep_recent_tokens,
                    price=model_price(runtime.config, provider.id, model))
            except ProviderError as exc:
                return f"Compaction failed: {exc.message}"
            if not result.compacted:
                return f"Not compacted: {result.reason}."
            cleared(entry)
            await store.save()
        return (f"Compacted: the older turns (about {_tokens(result.tokens_before or 0)} tokens with the kept ones) "
                f"are now a summary; {result.kept} recent messages kept.")

    async def model(run: Run, args: list[str]) -> str:
        store, entry = await entry_of(run)
        if not args:
            source, current = current_model(run, entry)
            known = sorted({f"{info.provider}/{info.id}" for info in runtime.models.models()})
            return f"Model: {current} ({source}). Available: {', '.join(known) or 'none listed'}."
        if _refused(run):
            return OWNER_ONLY
        entry = entry if entry is not None else await store.ensure(run.session_key)
        if args[0].lower() in ("default", "reset"):
            entry.pop("providerOverride", None)
            entry.pop("modelOverride", None)
            await store.save()
            return f"Model: back to the agent's ({current_model(run, entry)[1]})."
        try:
            provider, name = runtime.resolve_provider(run.agent_id, args[0])
        except (ProviderError, ProtocolError) as exc:
            return f"Cannot use {args[0]}: {getattr(exc, 'message', exc)}"
        entry.update({"providerOverride": provider.id, "modelOverride": name, "updatedAt": now_ms()})
        await store.save()
        window = context_tokens(runtime.config, provider.models(), name)
        return f"Model for this session: {provider.id}/{name} (context {_tokens(window)})."

    async def think(run: Run, args: list[str]) -> str:
        store, entry = await entry_of(run)
        if not args:
            return f"Thinking: {(entry or {}).get('thinkingLevel') or 'off'} (levels: {', '.join(THINK_LEVELS)})."
        if _refused(run):
            return OWNER_ONLY
        level = normalize_level(args[0])
        if level is None:
            return f"Unknown level {args[0]!r}; use one of {', '.join(THINK_LEVELS)}."
        entry = entry if entry is not None else await store.ensure(run.session_key)
        entry.update({"thinkingLevel": level, "updatedAt": now_ms()})
        await store.save()
        rest = " Send your message on its own." if args[1:] else ""
        return f"Thinking level: {level} (this session's turns ask the model for it).{rest}"

    commands = agents.commands
    commands.register("status", status, "this session's model, context use and settings")
    commands.register("new", reset, "start a new session (the transcript so far is kept on disk)")
    commands.register("reset", reset, "start a new session (the transcript so far is kept on disk)")
    commands.register("compact", compact, "summarise the older turns of this session")
    commands.register("model", model, "show or set this session's model")
    commands.register("think", think, "show or set this session's thinking level")

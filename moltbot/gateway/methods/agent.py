"""``agent``, ``agent.wait``, ``agent.identity.get``, ``agents.list``, ``models.list``, ``chat.*``, ``wake``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...agents.providers.registry import model_refs
from ...agents.sessions import message_text, normalize_agent_id
from ...agents.thinking import THINK_LEVELS, normalize_level
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    AgentAccepted,
    AgentIdentityParams,
    AgentParams,
    AgentWaitParams,
    ChatAbortParams,
    ChatHistoryParams,
    ChatSendParams,
    EmptyParams,
    ModelsListParams,
    ProtocolError,
    SetHeartbeatsParams,
    WakeParams,
)
from ..connection import ack
from .sessions import load_store, read_messages
from .ui import input_receipts

if TYPE_CHECKING:
    from ...agents.runtime import Run
    from ..connection import Connection
    from ..runtime import Runtime

HISTORY_BYTES_CAP = 6 * 1024 * 1024
ABORT_TRIGGERS = {"/stop", "/abort"}


async def agent(runtime: Runtime, connection: Connection, params: AgentParams) -> dict[str, Any]:
    """Two responses on one id: ``accepted`` at once, then the final result when the run ends."""
    agents = runtime.agents
    session_key = await _session_key_of(runtime, params)
    run, _ = agents.submit(run_id=params.idempotency_key, session_key=session_key, message=params.message,
                           dedupe="agent", agent_id=params.agent_id, lane=params.lane,
                           timeout=float(params.timeout) if params.timeout else None,
                           extra_system_prompt=params.extra_system_prompt, thinking=_thinking(params.thinking))
    await ack(connection, AgentAccepted(run_id=run.run_id, status="accepted", accepted_at=run.accepted_at))
    await run.done.wait()
    if run.status == "ok":
        return {"runId": run.run_id, "status": "ok", "summary": "completed", "result": agent_result(run)}
    summary = "aborted" if run.status == "aborted" else (run.error or "failed")
    raise ProtocolError(UNAVAILABLE, run.error or f"run {run.status}",
                        payload={"runId": run.run_id, "status": "error", "summary": summary})


def _thinking(value: str | None) -> str | None:
    """The ``thinking`` of an ``agent``/``chat.send`` call: that run's level (``agents/thinking.py``)."""
    if value is None or not value.strip():
        return None
    level = normalize_level(value)
    if level is None:
        raise ProtocolError(INVALID_REQUEST, f"unknown thinking level {value!r}; use one of {', '.join(THINK_LEVELS)}")
    return level


async def _session_key_of(runtime: Runtime, params: AgentParams) -> str:
    """The session an ``agent`` call runs in: ``sessionKey``, else the session whose entry has ``sessionId``
    (what ``openclaw agent --session-id S`` sends; OpenClaw looks the id up in the stores of ``agentId``,
    or of every agent), else the agent's main session.

    OpenClaw runs an id no session has in the main session, restarted under that id; this gateway does
    not let a client choose session ids, so such an id is refused rather than silently ignored, and so is
    a ``sessionId`` that is not the id of the given ``sessionKey``'s session.
    """
    agents = runtime.agents
    session_id = (params.session_id or "").strip()
    if not session_id:
        return params.session_key or agents.main_key(params.agent_id)
    if params.session_key:
        key = agents.canonical(params.session_key)
        store = agents.store(agents._agent_for(key))
        await load_store(store)
        if (store.entries.get(key) or {}).get("sessionId") != session_id:
            raise ProtocolError(INVALID_REQUEST, "sessionId is not the id of the sessionKey's session "
                                                 "(pass one of them)")
        return params.session_key
    known = agents.agent_ids()
    for agent_id in ([normalize_agent_id(params.agent_id)] if params.agent_id else known):
        if agent_id not in known:
            break
        store = agents.store(agent_id)
        await load_store(store)
        found = next((k for k, entry in store.entries.items() if entry.get("sessionId") == session_id), None)
        if found is not None:
            return found
    raise ProtocolError(INVALID_REQUEST, "unknown sessionId: no session of this gateway has it (choose the "
                                         "session by sessionKey, or leave both out for the main session)")


def agent_result(run: Run) -> dict[str, Any]:
    """A finished run's ``result``: ours (``text``, ``sessionKey``) and today's OpenClaw's (``payloads``, the
    replies its CLI prints, and ``meta.durationMs``)."""
    result: dict[str, Any] = {"text": run.text, "sessionKey": run.session_key,
                              "payloads": [{"text": run.text}] if run.text else []}
    if run.started_at is not None and run.ended_at is not None:
        result["meta"] = {"durationMs": max(0, run.ended_at - run.started_at)}
    return result


async def agent_wait(runtime: Runtime, connection: Connection, params: AgentWaitParams) -> dict[str, Any]:
    timeout = 30_000 if params.timeout_ms is None else params.timeout_ms
    return await runtime.agents.wait(params.run_id, timeout)


def _agent_entry(runtime: Runtime, agent_id: str) -> dict[str, Any]:
    entry = next((a for a in runtime.config.agents.entries if a.id == agent_id), None)
    row: dict[str, Any] = {"id": agent_id}
    if entry is not None and entry.name:
        row["name"] = entry.name
    if entry is not None and entry.identity is not None:
        identity = {k: v for k, v in (("name", entry.identity.name), ("theme", entry.identity.theme),
                                      ("emoji", entry.identity.emoji), ("avatar", entry.identity.avatar)) if v}
        if identity:
            row["identity"] = identity
    # The model runs use (primary of the agent's, else the default, else built-in echo): today's Control UI
    # asks for a model setup unless the agent names one.
    primary, *fallbacks = model_refs(runtime.config, entry.model if entry is not None else None)
    row["model"] = {"primary": primary, **({"fallbacks": fallbacks} if fallbacks else {})}
    return row


async def agents_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    agents = runtime.agents
    return {"defaultId": agents.default_agent_id(), "mainKey": runtime.config.session.main_key,
            "scope": runtime.config.session.scope, "agents": [_agent_entry(runtime, a) for a in agents.agent_ids()]}


async def agent_identity(runtime: Runtime, connection: Connection, params: AgentIdentityParams) -> dict[str, Any]:
    agents = runtime.agents
    agent_id = params.agent_id or agents.default_agent_id()
    if params.session_key:
        session_agent = agents.canonical(params.session_key).split(":")
        if len(session_agent) > 2 and params.agent_id and session_agent[1] != params.agent_id:
            raise ProtocolError(INVALID_REQUEST, "agentId does not match the session's agent")
        if not params.agent_id and len(session_agent) > 2:
            agent_id = session_agent[1]
    if agent_id not in agents.agent_ids():
        raise ProtocolError(INVALID_REQUEST, f"unknown agent id: {agent_id}")
    row = _agent_entry(runtime, agent_id)
    result = {"agentId": agent_id}
    identity = row.get("identity", {})
    if identity.get("name") or row.get("name"):
        result["name"] = identity.get("name") or row["name"]
    if identity.get("avatar"):
        result["avatar"] = identity["avatar"]
    return result


async def models_list(runtime: Runtime, connection: Connection, params: ModelsListParams) -> dict[str, Any]:
    models = []
    for info in runtime.list_models():
        row: dict[str, Any] = {"id": info.id, "name": info.name, "provider": info.provider}
        if info.context_window:
            row["contextWindow"] = info.context_window
        if info.reasoning is not None:
            row["reasoning"] = info.reasoning
        models.append(row)
    return {"models": models}


async def chat_send(runtime: Runtime, connection: Connection, params: ChatSendParams) -> dict[str, Any]:
    agents = runtime.agents
    text = params.message.strip()
    if text.lower() in ABORT_TRIGGERS:
        run_ids = agents.abort(params.session_key, reason="stop")
        return {"ok": True, "aborted": bool(run_ids), "runIds": run_ids}
    if not text and not params.attachments:
        raise ProtocolError(INVALID_REQUEST, "message or attachment required")
    thinking = _thinking(params.thinking)
    command = agents.commands.match(text) is not None  # /status, /new … as in a channel
    run, created = agents.submit(run_id=params.idempotency_key, session_key=params.session_key,
                                 message=params.message, command=command, dedupe="chat", thinking=thinking,
                                 timeout=(params.timeout_ms / 1000) if params.timeout_ms else None)
    if created:
        return {"runId": run.run_id, "status": "started"}
    if not run.done.is_set():
        return {"runId": run.run_id, "status": "in_flight"}
    return {"runId": run.run_id, "status": "ok" if run.status == "ok" else "error"}


async def chat_history(runtime: Runtime, connection: Connection, params: ChatHistoryParams) -> dict[str, Any]:
    agents = runtime.agents
    key = agents.canonical(params.session_key)
    store = agents.store(agents._agent_for(key))
    await load_store(store)
    entry = store.entries.get(key)
    result: dict[str, Any] = {"sessionKey": key, "messages": []}
    if params.input_run_ids is not None:  # protocol 4's queued-input receipts (ui.py)
        result.update(input_receipts(runtime, key, params.input_run_ids))
    if entry is None:
        return result
    result["sessionId"] = entry.get("sessionId")
    messages = await read_messages(store, entry, params.limit or 200)
    kept, size = [], 0
    for message in reversed(messages):  # newest first until the byte cap, then back in order
        size += len(message_text(message)) + 200
        if size > HISTORY_BYTES_CAP:
            break
        kept.append(message)
    result["messages"] = list(reversed(kept))
    if entry.get("thinkingLevel"):
        result["thinkingLevel"] = entry["thinkingLevel"]
    return result


async def chat_abort(runtime: Runtime, connection: Connection, params: ChatAbortParams) -> dict[str, Any]:
    run_ids = runtime.agents.abort(params.session_key, params.run_id, reason="rpc")
    return {"ok": True, "aborted": bool(run_ids), "runIds": run_ids}


async def wake(runtime: Runtime, connection: Connection, params: WakeParams) -> dict[str, Any]:
    text = params.text.strip()
    if not text:
        return {"ok": False}
    runtime.state.system_event(text)
    if params.mode == "now":
        runtime.heartbeat.request_now()
    return {"ok": True}


async def set_heartbeats(runtime: Runtime, connection: Connection, params: SetHeartbeatsParams) -> dict[str, Any]:
    runtime.state.heartbeats_enabled = params.enabled
    return {"ok": True, "enabled": params.enabled}

"""Agent tools over the gateway's sessions and channels: ``sessions_list``, ``sessions_history``,
``sessions_spawn``, ``message``.

Argument shapes follow the original's: ``sessions_list {limit?, activeMinutes?}``, ``sessions_history
{sessionKey, limit?, includeTools?}``, ``message {action: "send", message, channel?, to?, accountId?}``.
The session tools see the run's own agent only. ``message`` goes through the channel manager's public
send path (``ChannelManager.send``, what the ``send`` method uses: deduplicated, errors named); without
``channel``/``to`` it answers where the run's message came from. A run started by someone who is not the
owner (a group member, a stranger) may only send to the chat it came from.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from ..agents.sessions import now_ms
from ..agents.tools import ToolError
from ..protocol import ProtocolError

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .runtime import Runtime

log = logging.getLogger("moltbot.agents")

MAX_LIST = 200
MAX_FINDINGS = 8_000
NO_REPLY = "NO_REPLY"
MAX_HISTORY = 200
MAX_MESSAGE = 16_000

LIST_SCHEMA = {"type": "object", "properties": {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST},
    "activeMinutes": {"type": "integer", "minimum": 1}}}
HISTORY_SCHEMA = {"type": "object", "properties": {
    "sessionKey": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY},
    "includeTools": {"type": "boolean"}}, "required": ["sessionKey"]}
SPAWN_SCHEMA = {"type": "object", "properties": {
    "task": {"type": "string", "description": "what the sub-agent should do"},
    "label": {"type": "string"}}, "required": ["task"]}
MAX_TASK = 32_000
MESSAGE_SCHEMA = {"type": "object", "properties": {
    "action": {"type": "string", "enum": ["send"]}, "message": {"type": "string"},
    "channel": {"type": "string", "description": "telegram or whatsapp (default: where this chat is)"},
    "to": {"type": "string", "description": "chat id / number (default: this chat)"},
    "accountId": {"type": "string"}}, "required": ["message"]}


def _positive(arguments: dict[str, Any], key: str, default: int, ceiling: int) -> int:
    value = arguments.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= ceiling:
        raise ToolError(f"{key} must be an integer from 1 to {ceiling}")
    return value


def register_session_tools(runtime: Runtime) -> None:
    agents = runtime.agents

    def agent_of_run(run: Run | None) -> str:
        return run.agent_id if run is not None else agents.default_agent_id()

    async def sessions_list(arguments: dict[str, Any], run: Run | None) -> Any:
        limit = _positive(arguments, "limit", 50, MAX_LIST)
        active = arguments.get("activeMinutes")
        if active is not None and (not isinstance(active, int) or isinstance(active, bool) or active < 1):
            raise ToolError("activeMinutes must be a positive integer")
        store = agents.store(agent_of_run(run))
        await store.load()
        cutoff = now_ms() - active * 60_000 if active else 0
        rows = sorted(((key, entry) for key, entry in store.entries.items()
                       if (entry.get("updatedAt") or 0) >= cutoff),
                      key=lambda item: item[1].get("updatedAt") or 0, reverse=True)[:limit]
        return {"sessions": [{"key": key, "sessionId": entry.get("sessionId"), "updatedAt": entry.get("updatedAt"),
                              "channel": entry.get("lastChannel"), "model": entry.get("model"),
                              "totalTokens": entry.get("totalTokens"), "spawnedBy": entry.get("spawnedBy")}
                             for key, entry in rows]}

    async def sessions_history(arguments: dict[str, Any], run: Run | None) -> Any:
        key = arguments.get("sessionKey")
        if not isinstance(key, str) or not key.strip() or len(key) > 512:
            raise ToolError("sessionKey must be a non-empty string")
        limit = _positive(arguments, "limit", 20, MAX_HISTORY)
        key = agents.canonical(key)
        store = agents.store(agent_of_run(run))
        await store.load()
        entry = store.entries.get(key)
        if entry is None:
            raise ToolError(f"no such session for this agent: {key}")
        messages = await store.read_transcript(store.transcript_path(entry))
        if not arguments.get("includeTools"):
            messages = [m for m in messages if m.get("role") in ("user", "assistant")
                        and not any(isinstance(p, dict) and p.get("type") == "toolCall" for p in m.get("content") or ())]
        return {"sessionKey": key, "messages": messages[-limit:]}

    async def sessions_spawn(arguments: dict[str, Any], run: Run | None) -> Any:
        task = arguments.get("task")
        if not isinstance(task, str) or not task.strip() or len(task) > MAX_TASK:
            raise ToolError(f"task must be a non-empty string of at most {MAX_TASK} characters")
        if run is not None and run.spawned_by is not None:
            raise ToolError("a sub-agent cannot spawn sub-agents")
        agent_id = agent_of_run(run)
        child = f"agent:{agent_id}:subagent:{uuid.uuid4()}"
        started, _ = agents.submit(run_id=f"spawn-{uuid.uuid4().hex[:12]}", session_key=child, message=task,
                                   dedupe="tool", agent_id=agent_id, lane="subagent",
                                   spawned_by=run.session_key if run is not None else "api")
        label = arguments.get("label") if isinstance(arguments.get("label"), str) else None
        if run is not None:
            agents.spawn(partial(announce, started, run.session_key, run.route, label or task))
        return {"status": "accepted", "runId": started.run_id, "childSessionKey": child, "label": label,
                "note": "its result is announced to this session when it ends (or read it with sessions_history)"}

    async def announce(child: Run, requester: str, route: dict[str, Any] | None, label: str) -> None:
        """When the sub-agent ends, a turn of the requester's session is told its result and answers in its
        own voice (delivered to the chat the request came from, unless it answers ``NO_REPLY``), as the
        original announces sub-agent results."""
        try:
            await child.done.wait()
            findings = child.text[child.reply_start:].strip() or child.text.strip() or "(no output)"
            outcome = {"ok": "completed successfully", "aborted": "was stopped"}.get(
                child.status, f"failed: {child.error or 'unknown error'}")
            took = (child.ended_at or 0) - (child.started_at or child.ended_at or 0)
            trigger = "\n".join([
                f'A background task "{label[:200]}" just {outcome}.', "", "Findings:", findings[:MAX_FINDINGS],
                "", f"Runtime: {took / 1000:.1f} s. Session: {child.session_key}.", "",
                "Summarize this naturally for the user. Keep it brief (1-2 sentences). Flow it into the "
                "conversation naturally.",
                "Do not mention technical details like tokens, stats, or that this was a background task.",
                "You can respond with NO_REPLY if no announcement is needed."])
            turn, _ = agents.submit(run_id=f"announce-{uuid.uuid4().hex[:12]}", session_key=requester,
                                    message=trigger, dedupe="announce", route=route)
            await turn.done.wait()
            text = turn.text[turn.reply_start:].strip()
            route = route or {}
            if (turn.status == "ok" and text and text != NO_REPLY and route.get("lastChannel") not in (None, "webchat")
                    and route.get("lastTo")):
                await runtime.channels.send(f"announce-{turn.run_id}", route["lastChannel"],
                                            route.get("lastAccountId"), route["lastTo"], text)
        except Exception:  # an announcement that cannot be made must not take the runtime down
            log.exception("sub-agent %s: its result could not be announced to %s", child.run_id, requester)

    async def message(arguments: dict[str, Any], run: Run | None) -> Any:
        if arguments.get("action", "send") != "send":
            raise ToolError("action must be send")
        text = arguments.get("message")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE:
            raise ToolError(f"message must be a non-empty string of at most {MAX_MESSAGE} characters")
        route = (run.route or {}) if run is not None else {}
        channel = arguments.get("channel") or route.get("lastChannel")
        to = arguments.get("to") or route.get("lastTo")
        account = arguments.get("accountId") or route.get("lastAccountId")
        if not isinstance(channel, str) or channel == "webchat" or not isinstance(to, str) or not to:
            raise ToolError("channel and to are needed (this run did not come from a channel)")
        if run is not None and run.sender is not None and not run.sender.owner and (
                channel, to) != (route.get("lastChannel"), route.get("lastTo")):
            raise ToolError("only the owner's runs may message other chats")
        try:
            return await runtime.channels.send(f"tool-{uuid.uuid4().hex[:12]}", channel,
                                               account if isinstance(account, str) else None, to, text)
        except ProtocolError as exc:
            raise ToolError(exc.message) from None

    runtime.tools.register("sessions_list", "List this agent's sessions, newest first.", LIST_SCHEMA, sessions_list)
    runtime.tools.register("sessions_history", "Read the recent messages of one of this agent's sessions.",
                           HISTORY_SCHEMA, sessions_history)
    runtime.tools.register("sessions_spawn", "Start a sub-agent on a task in its own session; it runs in the "
                           "background and its result is announced to this session when it ends.", SPAWN_SCHEMA, sessions_spawn)
    runtime.tools.register("message", "Send a message to a chat (default: the chat this conversation is in).",
                           MESSAGE_SCHEMA, message)

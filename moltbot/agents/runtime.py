"""AgentRuntime: accepts runs, schedules them on lanes, runs them against a model, reports events.

Theory of operation. ``submit()`` registers a ``Run`` (deduplicated by idempotency key for five minutes:
a repeat returns the same run, running or finished) and starts one task for it in the AgentRuntime's
nursery, so a run outlives the request and the client that asked for it. The task takes its session's
slot and a lane slot (``lanes.py``), then ``turns.py`` streams the model's answer, running tools the
model asks for. Every step is reported through ``emit`` as ``agent`` events (per-run ``seq``) and, for
runs bound to a session, ``chat`` events (deltas throttled to 150 ms, then final/error/aborted). Abort
cancels the run's scope. Runs are registered with the gateway's ``RunTracker``, so a restart lets them
finish (bounded) and refuses new ones meanwhile.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import attrs
import trio

from ..config.model import Config
from ..protocol import INVALID_REQUEST, UNAVAILABLE, UNSET, AgentEvent, ChatEvent, ProtocolError
from ..store.ids import is_agent_id
from .commands import ChatCommands
from .inbound import Collected, InboundQueue, Sender
from .lanes import LaneScheduler, Ticket
from .providers.base import Provider, ProviderError, ToolCall, ToolSpec, Usage
from .sessions import (
    DEFAULT_AGENT_ID,
    InvalidSessionEntry,
    SessionStore,
    canonical_key,
    normalize_agent_id,
    now_ms,
)
from .tools import ToolRegistry
from .tracking import RunTracker
from .workspace import WorkspaceFiles, ensure_workspace, skip_bootstrap, workspace_dir

log = logging.getLogger("moltbot.agents")


def log_run_end(run: Run) -> None:
    """The run's end at info: status, time, tokens when the provider said, and why it failed or stopped."""
    took = f"{(run.ended_at - run.started_at) / 1000:.1f}s" if run.started_at and run.ended_at else "never started"
    usage = run.usage
    tokens = (f" tokens={usage.input_tokens}in/{usage.output_tokens}out" if usage is not None else "")
    why = f" error={run.error}" if run.error else ""
    stop = f" stop={run.stop_reason}" if run.stop_reason else ""
    log.info("agent run %s ended: status=%s duration=%s%s%s%s", run.run_id, run.status, took, tokens, stop, why)

DEDUPE_TTL = 300.0
DEDUPE_MAX = 1000
STRAY_STORES = 16  # session stores of agents not in the config, kept for sessions.list (LRU)
FINISHED_RUNS_TTL = 600.0
CHAT_DELTA_INTERVAL = 0.15

Emit = Callable[[str, Any, bool], None]  # (event name, payload, droppable)
# (agent id[, "provider/model" override]) → (provider, model name)
ResolveProvider = Callable[..., tuple[Provider, str]]


@attrs.define(eq=False)
class Run:
    run_id: str
    session_key: str
    agent_id: str
    message: str
    lane: str = "main"
    timeout: float = 600.0
    status: str = "queued"  # queued → running → ok | error | aborted
    accepted_at: int = attrs.field(factory=now_ms)
    started_at: int | None = None
    ended_at: int | None = None
    error: str | None = None
    stop_reason: str | None = None
    text: str = ""
    usage: Usage | None = None
    seq: int = 0
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: trio.Event = attrs.field(factory=trio.Event)
    finished_clock: float | None = None
    last_delta: float = -math.inf
    chat_text: str = ""  # the text as the last ``chat`` delta sent it (``deltaText`` is what came since)
    extra_system_prompt: str | None = None
    collected: Collected | None = None  # a collect-mode follow-up: its message is fixed when it starts
    listeners: list[trio.MemorySendChannel] = attrs.field(factory=list)
    client_tools: tuple[ToolSpec, ...] = ()  # tools the caller runs itself (OpenResponses function tools)
    client_tool_calls: list[ToolCall] = attrs.field(factory=list)
    model: str | None = None  # "provider/model" for this run instead of the agent's (a cron job's override)
    thinking: str | None = None  # this run's thinking level (agent/chat.send/cron ``thinking``), over the session's
    route: dict[str, Any] | None = None  # lastChannel/lastTo/… of a channel message (else "webchat")
    sender: Sender | None = None  # who sent a channel message (None: an operator, the API, cron …)
    command: bool = False  # a chat command (commands.py): answered without the model
    spawned_by: str | None = None  # the session that spawned this sub-agent run (sessions_spawn)
    tool_log: list[dict[str, Any]] = attrs.field(factory=list)  # transcript lines of tool calls/results
    reply_start: int = 0  # where in ``text`` the last model step (after the tools) began

    def watch(self) -> trio.MemoryReceiveChannel:
        """Every later ``(stream, data)`` step of this run; the channel closes when the run ends.

        Unbounded on purpose: a run's output is bounded, and an HTTP stream must not lose deltas."""
        send, receive = trio.open_memory_channel(math.inf)
        if self.done.is_set():
            send.close()
        else:
            self.listeners.append(send)
        return receive

    def summary(self) -> dict[str, Any]:
        """The ``agent.wait`` shape."""
        result: dict[str, Any] = {"runId": self.run_id, "status": "ok" if self.status == "ok" else "error"}
        if self.started_at is not None:
            result["startedAt"] = self.started_at
        if self.ended_at is not None:
            result["endedAt"] = self.ended_at
        if self.error:
            result["error"] = self.error
        return result


class AgentRuntime:
    def __init__(self, config: Config, *, emit: Emit, resolve_provider: ResolveProvider, state_dir: Path | None,
                 tracker: RunTracker | None = None, tools: ToolRegistry | None = None,
                 audience: Callable[[], bool] | None = None) -> None:
        """``audience()`` says whether an event emitted now would reach anyone; when it says no, events are
        still emitted (the gateway counts every broadcast in its ``seq``) with ``None`` as payload,
        without building them (a run streams one event per delta, often with no client listening)."""
        self.config = config
        self._audience = audience
        self.tracker = tracker or RunTracker()
        self.tools = tools or ToolRegistry()
        self._emit = emit
        self._resolve_provider = resolve_provider
        self.state_dir = state_dir
        defaults = config.agents.defaults
        self.lanes = LaneScheduler({"main": defaults.max_concurrent, "cron": config.cron.max_concurrent_runs,
                                    "subagent": defaults.subagents.max_concurrent})
        self.runs: dict[str, Run] = {}
        self._dedupe: dict[str, tuple[float, Run]] = {}
        self._stores: dict[str, SessionStore] = {}
        self._stray_stores: dict[str, SessionStore] = {}
        self._appeared = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.inbound = InboundQueue(self)
        self.commands = ChatCommands()
        self.workspace_files = WorkspaceFiles()
        self._ensured: dict[Path, bool] = {}  # workspaces made this process (value: starter files written)

    # --- lifecycle ------------------------------------------------------------------------------

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:  # forget old dedupe entries and finished runs
                await trio.sleep(60)
                self.sweep()

    def sweep(self) -> None:
        now = trio.current_time()
        for key in [k for k, (at, run) in self._dedupe.items() if now - at > DEDUPE_TTL and run.done.is_set()]:
            del self._dedupe[key]
        for run_id in [r for r, run in self.runs.items()
                       if run.finished_clock is not None and now - run.finished_clock > FINISHED_RUNS_TTL]:
            del self.runs[run_id]

    def apply_config(self, config: Config) -> None:
        self.config = config
        defaults = config.agents.defaults
        self.lanes.raise_limits({"main": defaults.max_concurrent, "cron": config.cron.max_concurrent_runs,
                                 "subagent": defaults.subagents.max_concurrent})

    # --- agents and sessions --------------------------------------------------------------------

    def default_agent_id(self) -> str:
        entries = self.config.agents.entries
        chosen = next((entry for entry in entries if entry.default), entries[0] if entries else None)
        return normalize_agent_id(chosen.id) if chosen else DEFAULT_AGENT_ID

    def agent_ids(self) -> list[str]:
        ids = [normalize_agent_id(entry.id) for entry in self.config.agents.entries]
        return ids or [DEFAULT_AGENT_ID]

    def agent_name(self, agent_id: str) -> str | None:
        """The configured display name of an agent (``name``, else ``identity.name``), if any."""
        for entry in self.config.agents.entries:
            if normalize_agent_id(entry.id) == agent_id:
                return entry.name or (entry.identity.name if entry.identity else None) or None
        return None

    async def load_stores(self) -> None:
        """Read the session store of every configured agent (each store is read once, then kept). A store
        that cannot be read (permissions, a directory in its place) is reported and counted as empty: a
        summary must not fail, nor take the health monitor down, because of one agent's store."""
        for agent_id in self.agent_ids():
            store = self.store(agent_id)
            try:
                await store.load()
            except OSError as exc:
                log.warning("session store of agent %s unreadable (%s): %s", agent_id, store.path, exc)

    def canonical(self, key: str) -> str:
        session = self.config.session
        return canonical_key(key, default_agent=self.default_agent_id(), main_key=session.main_key,
                             scope=session.scope)

    def main_key(self, agent_id: str | None = None) -> str:
        return self.canonical(f"agent:{agent_id or self.default_agent_id()}:{self.config.session.main_key}")

    def store(self, agent_id: str) -> SessionStore:
        """The session store of ``agent_id`` (a valid id: ``store/ids.py``; anything else is a ValueError).

        Stores of configured agents are kept for good; others (``sessions.list`` of an agent no longer
        configured) are kept in a small LRU, so distinct ids asked for cannot grow memory without bound.
        """
        agent_id = agent_id.lower()
        if not is_agent_id(agent_id):
            raise ValueError("not a valid agent id")
        store = self._stores.get(agent_id)
        if store is None:
            store = self._stray_stores.pop(agent_id, None) or SessionStore(
                self._store_path(agent_id), on_change=partial(self._emit, "sessions.changed"))
            if agent_id in self.agent_ids():
                self._stores[agent_id] = store
            else:
                self._stray_stores[agent_id] = store  # most recently used last
                while len(self._stray_stores) > STRAY_STORES:
                    self._stray_stores.pop(next(iter(self._stray_stores)))
        return store

    def workspace(self, agent_id: str) -> Path:
        return workspace_dir(self.config, agent_id, default_agent=self.default_agent_id())

    async def ensure_workspace(self, agent_id: str) -> Path:
        """The agent's workspace, made (with the starter files unless ``skipBootstrap``) on first use; a
        workspace removed while the gateway runs is made again on the next turn."""
        path = self.workspace(agent_id)
        starter = not skip_bootstrap(self.config, agent_id)
        if self._ensured.get(path) is not starter or not await trio.to_thread.run_sync(path.is_dir):
            await trio.to_thread.run_sync(lambda: ensure_workspace(path, starter_files=starter))
            self._ensured[path] = starter
        return path

    def _store_path(self, agent_id: str) -> Path:
        template = self.config.session.store
        if template:
            return Path(template.replace("{agentId}", agent_id)).expanduser()
        base = self.state_dir or Path.home() / ".clawdbot"
        return base / "agents" / agent_id / "sessions" / "sessions.json"

    # --- runs -----------------------------------------------------------------------------------

    def submit(self, *, run_id: str, session_key: str, message: str, dedupe: str, agent_id: str | None = None,
               lane: str | None = None, timeout: float | None = None,
               extra_system_prompt: str | None = None, collected: Collected | None = None,
               client_tools: Sequence[tuple[str, str, dict[str, Any]]] = (),
               model: str | None = None, route: dict[str, Any] | None = None, sender: Sender | None = None,
               command: bool = False, spawned_by: str | None = None,
               thinking: str | None = None) -> tuple[Run, bool]:
        """Start a run (or find the one with the same idempotency key). Returns (run, created)."""
        key = f"{dedupe}:{run_id}"
        cached = self._dedupe.get(key)
        if cached is not None:
            return cached[1], False
        if not self.tracker.accepting:
            raise ProtocolError(UNAVAILABLE, "gateway is restarting; retry the run shortly")
        if self._nursery is None:
            raise ProtocolError(UNAVAILABLE, "agent runtime is not running")
        session_key = self.canonical(session_key)
        agent = normalize_agent_id(agent_id) if agent_id else self._agent_for(session_key)
        if agent_id and agent not in self.agent_ids():
            raise ProtocolError(INVALID_REQUEST, f"unknown agent id: {agent_id}")
        timeout = timeout or float(self.config.agents.defaults.timeout_seconds)
        run = Run(run_id=run_id, session_key=session_key, agent_id=agent, message=message, lane=lane or "main",
                  timeout=timeout, extra_system_prompt=extra_system_prompt, collected=collected, model=model,
                  route=route, sender=sender, command=command, spawned_by=spawned_by, thinking=thinking,
                  client_tools=tuple(ToolSpec(name, description, parameters)
                                     for name, description, parameters in client_tools))
        if len(self._dedupe) >= DEDUPE_MAX:
            self._dedupe.pop(next(iter(self._dedupe)))
        self._dedupe[key] = (trio.current_time(), run)
        self.runs[run_id] = run
        self._appeared.set()
        self._appeared = trio.Event()
        if command:  # not behind the session's lane: "/approve" must reach a run that waits for it
            self._nursery.start_soon(self._execute_command, run, name=f"chat command {run_id}")
            return run, True
        ticket = self.lanes.reserve(session_key, run.lane)
        self._nursery.start_soon(self._execute, run, ticket, name=f"agent run {run_id}")
        return run, True

    def spawn(self, fn: Callable[[], Any]) -> None:
        """Run follow-up work of a run (a summary to post when it ends) in this runtime's nursery."""
        if self._nursery is None:
            raise ProtocolError(UNAVAILABLE, "agent runtime is not running")
        self._nursery.start_soon(fn)

    def _agent_for(self, session_key: str) -> str:
        if session_key.startswith("agent:"):
            candidate = normalize_agent_id(session_key.split(":")[1])
            if candidate in self.agent_ids():
                return candidate
        return self.default_agent_id()

    async def wait(self, run_id: str, timeout_ms: int) -> dict[str, Any]:
        with trio.move_on_after(timeout_ms / 1000):
            while run_id not in self.runs:
                await self._appeared.wait()
            await self.runs[run_id].done.wait()
            return self.runs[run_id].summary()
        return {"runId": run_id, "status": "timeout"}

    def abort(self, session_key: str, run_id: str | None = None, *, reason: str = "rpc") -> list[str]:
        session_key = self.canonical(session_key)
        if run_id is not None:
            run = self.runs.get(run_id)
            if run is not None and run.session_key != session_key:
                raise ProtocolError(INVALID_REQUEST, "runId does not match sessionKey")
        aborted = []
        for run in list(self.runs.values()):
            if run.session_key == session_key and not run.done.is_set() and run_id in (None, run.run_id):
                run.stop_reason = reason
                run.scope.cancel(reason=f"abort: {reason}")
                aborted.append(run.run_id)
        return aborted

    async def _execute(self, run: Run, ticket: Ticket) -> None:
        from .turns import run_turn

        try:
            with run.scope, trio.fail_after(run.timeout):
                # The slot first: it is the only place the ticket taken at submit time is given back.
                async with self.lanes.slot(ticket), self.tracker.open_run(f"agent run {run.run_id}"):
                    if run.collected is not None:
                        await self.inbound.settle(run, run.collected)
                    run.status = "running"
                    run.started_at = now_ms()
                    self.event(run, "lifecycle", {"phase": "start", "startedAt": run.started_at})
                    provider, model = (self._resolve_provider(run.agent_id, run.model) if run.model
                                       else self._resolve_provider(run.agent_id))
                    log.info("agent run %s started: agent=%s session=%s model=%s", run.run_id, run.agent_id,
                             run.session_key, model)
                    await run_turn(self, run, provider, model)
                run.status = "ok"  # not reached when aborted: the scope absorbs the cancellation
        except trio.TooSlowError:
            run.status, run.error, run.stop_reason = "error", f"agent run timed out after {run.timeout:g} s", "timeout"
        except ProtocolError as exc:
            run.status, run.error = "error", exc.message
        except (OSError, InvalidSessionEntry):  # a session file that cannot be read or written: path in the log only
            log.exception("agent run %s failed", run.run_id)
            run.status, run.error = "error", "the session's files could not be read or written (see the gateway log)"
        except ProviderError as exc:
            # Expected (a wrong key, a provider down): its message, written for the user, is in the run's end
            # line; a traceback would bury it.
            run.status, run.error = "error", exc.message
        except Exception:
            log.exception("agent run %s failed", run.run_id)
            # Our bug or an OS error: its text (paths, internals) stays in the log.
            run.status, run.error = "error", "agent run failed: internal error (see the gateway log)"
        if run.scope.cancelled_caught:
            run.status = "aborted"
        self._end(run)

    async def _execute_command(self, run: Run) -> None:
        run.status, run.started_at = "running", now_ms()
        self.event(run, "lifecycle", {"phase": "start", "startedAt": run.started_at})
        try:
            with run.scope, trio.fail_after(30):
                self.assistant_delta(run, await self.commands.run(run))
            run.status = "aborted" if run.scope.cancelled_caught else "ok"
        except trio.TooSlowError:
            run.status, run.error = "error", "the command timed out"
        except Exception:
            log.exception("chat command %s failed", run.run_id)
            run.status, run.error = "error", "the command failed (see the gateway log)"
        self._end(run)

    def _end(self, run: Run) -> None:
        run.ended_at = now_ms()
        run.finished_clock = trio.current_time()
        log_run_end(run)
        self._finish_events(run)
        for listener in run.listeners:
            listener.close()
        run.done.set()

    # --- events ---------------------------------------------------------------------------------

    def event(self, run: Run, stream: str, data: dict[str, Any], *, broadcast: bool = True) -> None:
        """One step of ``run``: to its listeners, and (unless ``broadcast`` is false) as an ``agent`` event."""
        run.seq += 1
        for listener in list(run.listeners):
            try:
                listener.send_nowait((stream, data))
            except (trio.BrokenResourceError, trio.ClosedResourceError):  # the watcher went away
                run.listeners.remove(listener)
        if not broadcast:
            return
        if self._audience is not None and not self._audience():
            self._emit("agent", None, False)
            return
        self._emit("agent", AgentEvent(run_id=run.run_id, seq=run.seq, stream=stream, ts=now_ms(), data=data,
                                       session_key=run.session_key), False)

    def assistant_delta(self, run: Run, delta: str) -> None:
        run.text += delta
        self.event(run, "assistant", {"text": run.text, "delta": delta})
        now = trio.current_time()
        if now - run.last_delta >= CHAT_DELTA_INTERVAL:  # skipped deltas are not resent: final has it all
            run.last_delta = now
            if self._audience is not None and not self._audience():
                self._emit("chat", None, True)
                return
            delta_text, replace = chat_delta(run.chat_text, run.text)
            run.chat_text = run.text
            self._emit("chat", ChatEvent(run_id=run.run_id, session_key=run.session_key, seq=run.seq, state="delta",
                                         message=_assistant_message(run.text), delta_text=delta_text,
                                         replace=replace), True)

    def _finish_events(self, run: Run) -> None:
        usage = ({"input": run.usage.input_tokens, "output": run.usage.output_tokens,
                  "total": run.usage.total_tokens} if run.usage else UNSET)
        if run.status == "ok":
            self.event(run, "lifecycle", {"phase": "end", "startedAt": run.started_at, "endedAt": run.ended_at})
            self._emit("chat", ChatEvent(run_id=run.run_id, session_key=run.session_key, seq=run.seq, state="final",
                                         message=_assistant_message(run.text) if run.text else UNSET, usage=usage,
                                         stop_reason="stop"), False)
        elif run.status == "aborted":
            self.event(run, "lifecycle", {"phase": "end", "startedAt": run.started_at, "endedAt": run.ended_at,
                                          "aborted": True})
            self._emit("chat", ChatEvent(run_id=run.run_id, session_key=run.session_key, seq=run.seq + 1,
                                         state="aborted", stop_reason=run.stop_reason or "rpc"), False)
        else:
            self.lanes.record_error(run.lane)
            self.event(run, "lifecycle", {"phase": "error", "startedAt": run.started_at, "endedAt": run.ended_at,
                                          "error": run.error})
            self._emit("chat", ChatEvent(run_id=run.run_id, session_key=run.session_key, seq=run.seq, state="error",
                                         error_message=run.error), False)


def chat_delta(sent: str, text: str) -> tuple[str, Literal[True] | None]:
    """``(deltaText, replace)`` for a ``chat`` delta: what was appended since the last delta sent, or, when
    ``text`` no longer starts with what was sent (a rewrite), all of it with ``replace: true``. Deltas are
    sent at most every 0.15 s, so ``deltaText`` covers every provider chunk since the last one."""
    if text.startswith(sent):
        return text[len(sent):], None
    return text, True


def _assistant_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": now_ms()}

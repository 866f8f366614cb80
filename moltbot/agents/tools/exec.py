"""``exec`` (a shell command in the workspace, behind the exec approvals) and ``process`` (background runs).

Arguments are the original's: ``exec {command, workdir?, env?, timeout? (s), yieldMs?, background?}`` and
``process {action: list|poll|log|write|kill|remove, sessionId?, data?, offset?, limit?}``. Before a command
runs, the agent's approvals policy (``agents/approvals.py``) decides: allowlisted or ``security: full``
runs; ``deny`` refuses; a miss asks the approvers (``approve``: the gateway's broker, which also tells
the chat) and waits; no answer by the deadline applies ``askFallback``. ``allow-always`` adds the
command's executables to the agent's allowlist. A sandboxed run (``agents.defaults.sandbox``) runs the
command under bubblewrap (``agents/sandbox.py``: the workspace read-write, system directories read-only,
nothing else, no network unless allowed, a fresh environment); when bubblewrap is missing the tool refuses,
never running unsandboxed. The approvals apply to sandboxed commands too.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .. import approvals as rules
from ..sandbox import SandboxUnavailable, sandboxed, wrapper
from .fs import confine
from .processes import ProcessTable, kill
from .registry import ToolError

if TYPE_CHECKING:
    from ..runtime import AgentRuntime, Run
    from .registry import ToolRegistry

MAX_COMMAND = 64 * 1024
MAX_ENV = 64
MAX_STDIN = 64 * 1024
# (run, agent id, command, cwd, resolved executable, policy) → decision ("allow-once" | "allow-always" |
# "deny") or None (nobody answered in time)
Approve = Callable[["Run | None", str, str, str, str | None, rules.Policy], Awaitable[str | None]]
# (read, update) of the approvals file, run under the broker's lock
FileAccess = tuple[Callable[[], Awaitable[tuple[str | None, dict[str, Any]]]],
                   Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Awaitable[dict[str, Any]]]]

EXEC_SCHEMA = {"type": "object", "properties": {
    "command": {"type": "string", "description": "shell command (run with /bin/sh -c in the workspace)"},
    "workdir": {"type": "string", "description": "directory, relative to the workspace"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "timeout": {"type": "integer", "minimum": 1, "description": "seconds before the command is killed"},
    "yieldMs": {"type": "integer", "minimum": 0, "description": "wait this long, then continue in the background"},
    "background": {"type": "boolean", "description": "start in the background at once"}},
    "required": ["command"]}
PROCESS_SCHEMA = {"type": "object", "properties": {
    "action": {"type": "string", "enum": ["list", "poll", "log", "write", "kill", "remove"]},
    "sessionId": {"type": "string"}, "data": {"type": "string", "description": "write: text for stdin"},
    "offset": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1}},
    "required": ["action"]}


def _check(arguments: dict[str, Any]) -> tuple[str, dict[str, str]]:
    command, env = arguments.get("command"), arguments.get("env") or {}
    if not isinstance(command, str) or not command.strip() or len(command) > MAX_COMMAND:
        raise ToolError(f"command must be a non-empty string of at most {MAX_COMMAND} characters")
    if (not isinstance(env, dict) or len(env) > MAX_ENV
            or not all(isinstance(k, str) and isinstance(v, str) and "\0" not in k + v for k, v in env.items())):
        raise ToolError(f"env must map at most {MAX_ENV} names to strings")
    for key in ("timeout", "yieldMs"):
        value = arguments.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ToolError(f"{key} must be a non-negative integer")
    return command, env


def _result(session: Any) -> dict[str, Any]:
    out = session.summary()
    out["output"] = session.output()
    if session.timed_out:
        out["error"] = "the command timed out and was killed"
    return out


def register_exec_tools(registry: ToolRegistry, agents: AgentRuntime, *, approve: Approve,
                        file_access: FileAccess) -> ProcessTable:
    table = ProcessTable(agents.spawn)
    read_file, update_file = file_access

    async def authorize(run: Run | None, agent_id: str, command: str, cwd: Path) -> None:
        exec_config = agents.config.tools.exec
        try:
            _, file = await read_file()
        except rules.ApprovalsFileError as exc:
            raise ToolError(f"exec refused: {exc}") from None
        policy = rules.effective_policy(file, agent_id, exec_config)
        path_env = os.environ.get("PATH")
        verdict = await trio.to_thread.run_sync(rules.evaluate, policy, command, cwd, path_env)
        if verdict.decision == "deny":
            raise ToolError(f"exec denied: {verdict.reason}")
        if verdict.decision == "allow":
            if verdict.matched:
                await update_file(lambda f: rules.record_use(f, agent_id, verdict.matched, command))
            return
        decision = await approve(run, agent_id, command, str(cwd), verdict.resolved[0] if verdict.resolved else None,
                                 policy)
        if decision is None:  # nobody answered: the fallback decides (an allowlist fallback cannot match a miss)
            if policy.ask_fallback != "full":
                raise ToolError("exec denied: the approval request timed out (askFallback: "
                                f"{policy.ask_fallback})")
            return
        if decision == "deny":
            raise ToolError("exec denied by the approver")
        if decision == "allow-always" and verdict.resolved:
            await update_file(lambda f: rules.allow_always(f, agent_id, verdict.resolved, command))

    async def exec_tool(arguments: dict[str, Any], run: Run | None) -> Any:
        command, env = _check(arguments)
        agent_id = run.agent_id if run is not None else agents.default_agent_id()
        config = agents.config
        sandbox = None
        if run is not None and sandboxed(config, run.session_key, agents.main_key(agent_id)):
            try:
                sandbox = await trio.to_thread.run_sync(wrapper, config.agents.defaults.sandbox)
            except SandboxUnavailable as exc:
                raise ToolError(f"exec refused: the sandbox is unavailable: {exc}; nothing was run") from None
        workspace = await agents.ensure_workspace(agent_id)
        workdir = arguments.get("workdir") or "."
        cwd = await trio.to_thread.run_sync(lambda: confine(workspace, workdir, workspace_only=True))
        if not await trio.to_thread.run_sync(cwd.is_dir):
            raise ToolError(f"workdir is not a directory: {workdir}")
        await authorize(run, agent_id, command, cwd)
        exec_config = config.tools.exec
        timeout = float(arguments.get("timeout") or exec_config.timeout_sec)
        yield_ms = 0 if arguments.get("background") else arguments.get("yieldMs", exec_config.background_ms)
        argv = None
        run_env = {**os.environ, **env}
        if sandbox is not None:
            root = await trio.to_thread.run_sync(lambda: Path(workspace).resolve())
            argv = sandbox.argv(command, workspace=root, cwd=cwd)
            run_env = sandbox.environment(root, env)
        try:
            session = await table.start(command, cwd=cwd, env=run_env, kill_after=timeout,
                                        limit=exec_config.max_output_chars, agent_id=agent_id,
                                        session_key=run.session_key if run else None, argv=argv)
        except OSError as exc:
            raise ToolError(f"exec failed to start: {exc.strerror or exc}") from None
        with trio.move_on_after(yield_ms / 1000):
            await session.done.wait()
        if session.done.is_set():
            table.sessions.pop(session.id, None)
            return _result(session)
        return {**session.summary(), "tail": session.output()[-2000:],
                "note": "still running in the background: use the process tool (poll, log, write, kill)"}

    async def process_tool(arguments: dict[str, Any], run: Run | None) -> Any:
        action = arguments.get("action")
        agent_id = run.agent_id if run is not None else agents.default_agent_id()
        mine = {k: s for k, s in table.sessions.items() if s.agent_id == agent_id}
        if action == "list":
            return {"sessions": [s.summary() for s in mine.values()]}
        session = mine.get(arguments.get("sessionId") or "")
        if session is None:
            raise ToolError("unknown sessionId (see action list)")
        if action == "poll":
            new = session.output()[-(session.total_chars - session.polled):] if session.total_chars > session.polled else ""
            session.polled = session.total_chars
            return {**session.summary(), "output": new}
        if action == "log":
            offset, limit = arguments.get("offset", 0), arguments.get("limit", 20_000)
            return {**session.summary(), "output": session.output()[offset:offset + limit]}
        if action == "write":
            data = arguments.get("data")
            if not isinstance(data, str) or len(data) > MAX_STDIN:
                raise ToolError(f"data must be a string of at most {MAX_STDIN} characters")
            stdin = session.process.stdin if session.process else None
            if stdin is None or session.done.is_set():
                raise ToolError("the process has ended")
            await stdin.send_all(data.encode())
            return {"sessionId": session.id, "written": len(data)}
        if action == "kill":
            kill(session)
            with trio.move_on_after(5):
                await session.done.wait()
            return session.summary()
        if action == "remove":
            if not session.done.is_set():
                raise ToolError("the process is still running: kill it first")
            del table.sessions[session.id]
            return {"sessionId": session.id, "removed": True}
        raise ToolError("action must be one of list, poll, log, write, kill, remove")

    registry.register("exec", "Run a shell command in the workspace (approval may be needed); long commands "
                      "continue in the background (see process).", EXEC_SCHEMA, exec_tool)
    registry.register("process", "Manage background commands started by exec: list, poll (new output), log, "
                      "write (stdin), kill, remove.", PROCESS_SCHEMA, process_tool)
    return table

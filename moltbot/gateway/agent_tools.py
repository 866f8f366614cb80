"""Built-in agent tools that reach into the gateway: ``gateway`` (restart, config) and ``sessions_send``;
``register_builtin_tools`` also adds the gateway-independent ones (files, memory, …) to the registry.

The ``gateway`` tool's config actions run the control-plane methods in-process (the original's tool calls
them over the WebSocket), so they share their checks: baseHash, redaction, validation, one restart.

Registered on each Runtime's ``ToolRegistry``; channels, cron and nodes register theirs the same way.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import trio

from ..agents.tools import ToolError
from ..agents.tools.exec import register_exec_tools
from ..agents.tools.fs import register_fs_tools
from ..agents.tools.memory import register_memory_tools
from ..agents.tools.web import register_web_tools
from ..config.redact import redacted_copy
from ..config.schema import config_schema
from ..protocol import ProtocolError
from .approvals import wire_exec_approvals
from .cron_tool import register_cron_tool
from .sentinel import write_restart_sentinel
from .session_commands import register_session_commands
from .session_tools import register_session_tools

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .runtime import Runtime

CONFIG_ACTIONS = ("config.get", "config.schema", "config.patch", "config.apply")
GATEWAY_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["restart", "config.get", "config.schema", "config.patch",
                                               "config.apply"]},
        "delayMs": {"type": "integer", "minimum": 0},
        "reason": {"type": "string"},
        "note": {"type": "string"},
        "sessionKey": {"type": "string"},
        "raw": {"type": "string", "description": "config.patch: JSON5 merge patch; config.apply: whole config"},
        "baseHash": {"type": "string", "description": "hash from config.get"},
        "restartDelayMs": {"type": "integer", "minimum": 0},
    },
    "required": ["action"],
}
SESSIONS_SEND_SCHEMA = {
    "type": "object",
    "properties": {"sessionKey": {"type": "string"}, "message": {"type": "string"}},
    "required": ["sessionKey", "message"],
}


def register_gateway_tools(runtime: Runtime) -> None:
    """Every built-in tool on ``runtime.tools`` (the policy decides per run which ones a model sees)."""
    register_fs_tools(runtime.tools, runtime.agents)
    register_memory_tools(runtime.tools, runtime.agents)
    register_web_tools(runtime.tools, runtime.agents)
    approve, file_access = wire_exec_approvals(runtime)
    register_exec_tools(runtime.tools, runtime.agents, approve=approve, file_access=file_access)
    _register_control_tools(runtime)
    register_session_tools(runtime)
    register_session_commands(runtime)
    register_cron_tool(runtime)


def _register_control_tools(runtime: Runtime) -> None:
    async def gateway_tool(arguments: dict[str, Any], run: Run | None) -> Any:
        action = arguments.get("action")
        config = runtime.config
        if action in CONFIG_ACTIONS:
            return await config_action(action, arguments, run)
        if action != "restart":
            raise ToolError(f"unknown action: {action!r} (use restart, {', '.join(CONFIG_ACTIONS)})")
        if not config.commands.restart:
            raise ToolError("Gateway restart is disabled. Set commands.restart=true")
        delay = arguments.get("delayMs", 2000)
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
            raise ToolError("delayMs must be a non-negative integer")
        session_key = arguments.get("sessionKey") or (run.session_key if run else None)
        sentinel = None
        if (state_dir := config.state_dir) is not None:
            sentinel = await trio.to_thread.run_sync(lambda: write_restart_sentinel(
                state_dir, kind="restart", sessionKey=session_key, message=arguments.get("note"),
                stats={"mode": "gateway.restart", "reason": arguments.get("reason")}))
        scheduled = runtime.gateway.schedule_restart(delay_ms=delay, reason=arguments.get("reason"))
        return {**scheduled, "sentinel": sentinel}

    async def config_action(action: str, arguments: dict[str, Any], run: Run | None) -> Any:
        # imported on use, as the config methods' handlers are (a start does not build their payloads)
        from ..protocol import ConfigPatchParams
        from .methods.config import read_snapshot, write_and_restart

        gateway = runtime.gateway
        if action == "config.schema":
            return config_schema(gateway.version)
        if action == "config.get":
            if gateway.config.path is None:
                return {"path": None, "config": redacted_copy(gateway.config.raw)}
            return await read_snapshot(gateway)
        raw, base_hash = arguments.get("raw"), arguments.get("baseHash")
        delay, note = arguments.get("restartDelayMs"), arguments.get("note")
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("raw must be a non-empty JSON5 string")
        if base_hash is not None and not isinstance(base_hash, str):
            raise ToolError("baseHash must be a string (from config.get)")
        if delay is not None and (not isinstance(delay, int) or isinstance(delay, bool) or delay < 0):
            raise ToolError("restartDelayMs must be a non-negative integer")
        session_key = arguments.get("sessionKey") or (run.session_key if run else None)
        params = ConfigPatchParams(raw=raw, base_hash=base_hash or None, session_key=session_key,
                                   note=note if isinstance(note, str) else None, restart_delay_ms=delay)
        try:
            return await write_and_restart(gateway, params, action)
        except ProtocolError as exc:
            details = f" {json.dumps(exc.details)}" if exc.details else ""
            raise ToolError(f"{exc.message}{details}") from None

    async def sessions_send(arguments: dict[str, Any], run: Run | None) -> Any:
        key, message = arguments.get("sessionKey"), arguments.get("message")
        if not isinstance(key, str) or not key or not isinstance(message, str) or not message.strip():
            raise ToolError("sessionKey and message must be non-empty strings")
        target = runtime.agents.canonical(key)
        if run is not None and target == run.session_key:
            raise ToolError("a session cannot send to itself (it is running this turn)")
        started, _ = runtime.agents.submit(run_id=f"send-{uuid.uuid4().hex[:12]}", session_key=target,
                                           message=message, dedupe="tool")
        return {"runId": started.run_id, "sessionKey": target, "status": "started"}

    runtime.tools.register("gateway", "Restart the gateway (delayMs); read its config (secrets redacted) or "
                           "schema; change it with config.patch (merge patch) or config.apply (whole file), "
                           "passing baseHash from config.get; both restart the gateway.",
                           GATEWAY_TOOL_SCHEMA, gateway_tool)
    runtime.tools.register("sessions_send", "Send a message to another session; it runs as a new turn there.",
                           SESSIONS_SEND_SCHEMA, sessions_send)

"""Built-in agent tools that reach into the gateway: ``gateway`` (restart, config) and ``sessions_send``.

Registered on each Runtime's ``ToolRegistry``; channels, cron and nodes register theirs the same way.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

import trio

from ..agents.tools import ToolError
from .sentinel import write_restart_sentinel

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .runtime import Runtime

SECRET_KEYS = {"token", "password", "apiKey", "botToken", "webhookSecret", "secret"}

GATEWAY_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["restart", "config.get"]},
        "delayMs": {"type": "integer", "minimum": 0},
        "reason": {"type": "string"},
        "note": {"type": "string"},
        "sessionKey": {"type": "string"},
    },
    "required": ["action"],
}
SESSIONS_SEND_SCHEMA = {
    "type": "object",
    "properties": {"sessionKey": {"type": "string"}, "message": {"type": "string"}},
    "required": ["sessionKey", "message"],
}


def redact(value: Any) -> Any:
    """A copy of a config tree with secret values replaced."""
    value = copy.deepcopy(value)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key in SECRET_KEYS and isinstance(item, str) and item:
                    node[key] = "***"
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return value


def register_gateway_tools(runtime: Runtime) -> None:
    async def gateway_tool(arguments: dict[str, Any], run: Run | None) -> Any:
        action = arguments.get("action")
        config = runtime.config
        if action == "config.get":
            return {"path": str(config.path) if config.path else None, "config": redact(config.raw)}
        if action != "restart":
            raise ToolError(f"unknown action: {action!r} (use restart or config.get)")
        if not config.commands.restart:
            raise ToolError("Gateway restart is disabled. Set commands.restart=true")
        delay = arguments.get("delayMs", 2000)
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
            raise ToolError("delayMs must be a non-negative integer")
        session_key = arguments.get("sessionKey") or (run.session_key if run else None)
        sentinel = None
        if config.state_dir is not None:
            sentinel = await trio.to_thread.run_sync(lambda: write_restart_sentinel(
                config.state_dir, kind="restart", sessionKey=session_key, message=arguments.get("note"),
                stats={"mode": "gateway.restart", "reason": arguments.get("reason")}))
        scheduled = runtime.gateway.schedule_restart(delay_ms=delay, reason=arguments.get("reason"))
        return {**scheduled, "sentinel": sentinel}

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

    runtime.tools.register("gateway", "Restart the gateway (delayMs) or read its config (secrets redacted).",
                           GATEWAY_TOOL_SCHEMA, gateway_tool)
    runtime.tools.register("sessions_send", "Send a message to another session; it runs as a new turn there.",
                           SESSIONS_SEND_SCHEMA, sessions_send)

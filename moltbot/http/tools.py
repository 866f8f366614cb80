"""``POST /tools/invoke``: call one registered agent tool directly. Always on; 2 MiB body.

Policy: a tool listed in ``tools.deny`` (or missing from ``tools.allow`` when that list is set) is
reported as not available, exactly like a tool that does not exist. Over HTTP, as in today's OpenClaw
(GHSA-943q-mwmv-hhvh), a default deny list applies on top: session orchestration (``sessions_spawn``,
``sessions_send``), the gateway's own control plane and anything that runs commands or writes files.
``gateway.tools.allow`` takes names off that list, ``gateway.tools.deny`` adds names to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response

from ..agents.sessions import agent_of
from ..agents.tools import policy_for
from .common import HttpError, invalid, json_response

if TYPE_CHECKING:
    from .host import HttpRuntime

MAX_BODY = 2 * 1024 * 1024
MAX_ARGS = 256  # top-level keys of ``args``
MAX_NAME = 128  # characters of ``tool`` and ``action``
# Today's OpenClaw's DEFAULT_GATEWAY_HTTP_TOOL_DENY (names of tools this gateway does not have included,
# so a plugin or a later version that adds one is denied from the start).
DEFAULT_HTTP_DENY = frozenset({
    "exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch", "sessions_spawn",
    "sessions_send", "cron", "gateway", "nodes", "whatsapp_login",
    # ours: the file-writing and process tools under their names here (write/edit as fs_write, process as exec)
    "write", "edit", "process"})


def _http_denied(runtime: HttpRuntime, name: str) -> bool:
    tools = runtime.config.gateway.tools
    return name in tools.deny or (name in DEFAULT_HTTP_DENY and name not in tools.allow)


def _validate(body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("tool"), str) or not body["tool"]:
        raise invalid("tools.invoke requires body.tool")
    if len(body["tool"]) > MAX_NAME:
        raise invalid(f"tools.invoke: body.tool is longer than {MAX_NAME} characters")
    action = body.get("action")
    if action is not None and (not isinstance(action, str) or len(action) > MAX_NAME):
        raise invalid(f"tools.invoke: body.action must be a string of at most {MAX_NAME} characters")
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise invalid("tools.invoke: body.args must be an object")
    if len(args) > MAX_ARGS:
        raise invalid(f"tools.invoke: body.args has {len(args)} keys; the limit is {MAX_ARGS}")
    if body.get("sessionKey") is not None and not isinstance(body["sessionKey"], str):
        raise invalid("tools.invoke: body.sessionKey must be a string")


def _allowed(runtime: HttpRuntime, name: str, session_key: str | None) -> bool:
    """The HTTP deny list, then the tool policy of the agent the session belongs to (``policy.py``)."""
    if _http_denied(runtime, name):
        return False
    agents = runtime.agents
    agent_id = agent_of(agents.canonical(session_key), agents.default_agent_id()) if session_key else None
    return policy_for(runtime.config, agent_id or agents.default_agent_id()).admits(name)


async def tools_invoke(runtime: HttpRuntime, body: Any) -> Response:
    _validate(body)
    name = body["tool"]
    args = body.get("args", {})
    if name not in runtime.tools.names() or not _allowed(runtime, name, body.get("sessionKey")):
        raise HttpError(404, {"ok": False, "error": {"type": "not_found", "message": f"Tool not available: {name}"}})
    if isinstance(body.get("action"), str) and "action" not in args:
        spec = next(s for s in runtime.tools.specs() if s.name == name)
        if "action" in spec.parameters.get("properties", {}):
            args = {**args, "action": body["action"]}
    result, is_error = await runtime.tools.invoke(name, args)
    if is_error:
        message = result.get("error") if isinstance(result, dict) else str(result)
        return json_response({"ok": False, "error": {"type": "tool_error", "message": message}}, 400)
    return json_response({"ok": True, "result": result})

"""``POST /tools/invoke``: call one registered agent tool directly (reference §6.4). Always on; 2 MiB body.

Policy: a tool listed in ``tools.deny`` (or missing from ``tools.allow`` when that list is set) is
reported as not available, exactly like a tool that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response

from .common import HttpError, invalid, json_response

if TYPE_CHECKING:
    from ..gateway.runtime import Runtime

MAX_BODY = 2 * 1024 * 1024


def _allowed(runtime: Runtime, name: str) -> bool:
    policy = runtime.config.raw.get("tools")
    if not isinstance(policy, dict):
        return True
    allow, deny = policy.get("allow"), policy.get("deny")
    if isinstance(deny, list) and name in deny:
        return False
    return not (isinstance(allow, list) and allow and name not in allow)


async def tools_invoke(runtime: Runtime, body: Any) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("tool"), str) or not body["tool"]:
        raise invalid("tools.invoke requires body.tool")
    name = body["tool"]
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise invalid("tools.invoke: body.args must be an object")
    if name not in runtime.tools.names() or not _allowed(runtime, name):
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

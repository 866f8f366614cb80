"""The ``browser`` agent tool: one action per call, mapped onto the control API (``service.py``).

Actions follow the original's browser tool: status, start, stop, profiles, tabs, open, focus, close,
navigate, snapshot, act (``request``: the ``/act`` body), screenshot, pdf, console, wait. The answer is
the route's JSON; an error answer becomes a tool error with the service's reason, so the model can
correct itself ("stale ref: take a new snapshot"). Off in group and channel sessions (session keys
``…:group:…`` / ``…:channel:…``) unless ``browser.allowInGroups``: a group's members must not steer the
owner's browser. ``tools.allow``/``tools.deny`` (the agent tool policy) apply on top, by the name
``browser``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..agents.tools import ToolError

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .server import BrowserService

ACTIONS = (
    "status",
    "start",
    "stop",
    "profiles",
    "tabs",
    "open",
    "focus",
    "close",
    "navigate",
    "snapshot",
    "act",
    "screenshot",
    "pdf",
    "console",
    "wait",
)
SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "profile": {"type": "string", "description": "browser profile (default: moltbot)"},
        "targetId": {"type": "string", "description": "tab id from tabs/open (default: the current tab)"},
        "url": {"type": "string"},
        "request": {
            "type": "object",
            "description": "act: {kind: click|type|press|hover|select|fill|scroll|"
            "scrollIntoView|drag|wait|resize|close, ref, text, key, values, "
            "fields, startRef, endRef …}",
        },
        "interactive": {"type": "boolean", "description": "snapshot: only elements you can act on"},
        "maxChars": {"type": "integer", "minimum": 1},
        "fullPage": {"type": "boolean"},
        "ref": {"type": "string", "description": "screenshot: one element"},
        "waitUntil": {"type": "string", "enum": ["load", "domcontentloaded", "networkidle", "none"]},
        "text": {"type": "string", "description": "wait: until this text is on the page"},
        "timeMs": {"type": "integer", "minimum": 0},
        "timeoutMs": {"type": "integer", "minimum": 1},
        "level": {"type": "string", "description": "console: only this type (log, error, warning …)"},
    },
    "required": ["action"],
}
DESCRIPTION = (
    "Control a web browser: open pages, take an accessibility snapshot (elements carry refs like e12), "
    "act on refs (click, type, press, select, fill, hover, scroll, drag), wait, screenshot, pdf, console. "
    "Snapshot before acting; refs stay valid while the element is on the page."
)


def _request(arguments: dict[str, Any]) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    action = arguments.get("action")
    profile = {"profile": arguments["profile"]} if isinstance(arguments.get("profile"), str) else {}
    target = {"targetId": arguments["targetId"]} if isinstance(arguments.get("targetId"), str) else {}
    pick: dict[str, Any] = {
        k: arguments[k]
        for k in ("url", "waitUntil", "timeoutMs", "fullPage", "ref", "text", "timeMs")
        if k in arguments
    }
    if action in ("status", "profiles", "tabs"):
        return "GET", {"status": "/", "profiles": "/profiles", "tabs": "/tabs"}[action], profile, {}
    if action in ("start", "stop"):
        return "POST", f"/{action}", profile, {}
    if action == "open":
        return "POST", "/tabs/open", profile, {"url": arguments.get("url")}
    if action == "focus":
        return "POST", "/tabs/focus", profile, target
    if action == "close":
        return "DELETE", f"/tabs/{arguments.get('targetId', '')}", profile, {}
    if action in ("snapshot", "console"):
        query = {**profile, **target}
        for key in ("interactive", "maxChars", "level"):
            if key in arguments:
                query[key] = (
                    str(arguments[key]).lower() if isinstance(arguments[key], bool) else str(arguments[key])
                )
        return "GET", f"/{action}", query, {}
    if action == "act":
        request = arguments.get("request")
        if not isinstance(request, dict):
            raise ToolError("act needs request: {kind, ref, …}")
        return "POST", "/act", profile, {**request, **target}
    if action in ("navigate", "screenshot", "pdf", "wait"):
        return "POST", f"/{action}", profile, {**pick, **target}
    raise ToolError(f"unknown action {str(action)[:32]!r} (one of {', '.join(ACTIONS)})")


def register_browser_tool(tools: Any, service: BrowserService) -> None:
    async def browser_tool(arguments: dict[str, Any], run: Run | None) -> Any:
        config = service.runtime.config.browser
        if (
            run is not None
            and not config.allow_in_groups
            and any(f":{kind}:" in run.session_key for kind in ("group", "channel"))
        ):
            raise ToolError("the browser tool is off in group chats (browser.allowInGroups)")
        control = service.control
        if control is None:
            raise ToolError(service.last_error or "browser control is disabled on this gateway")
        method, path, query, body = _request(arguments)
        status, answer = await control.handle(method, path, query, body)
        if status >= 400:
            raise ToolError(str(answer.get("error") if isinstance(answer, dict) else answer))
        return answer

    tools.register("browser", DESCRIPTION, SCHEMA, browser_tool)

"""Webhooks under ``hooks.path``: ``/wake``, ``/agent`` and configured mappings.

Auth is the hooks token (``Authorization: Bearer`` or ``X-Moltbot-Token``), checked before anything else
(the method included, as the reference does: 401, then 405 for non-POST). A token in the URL (the
reference's deprecated ``?token=``) is refused with 400 in any method and never compared or counted: a
page can make the owner's browser send such a URL (``<img src=…>``, a form) without any preflight.
Wrong tokens are limited per normalised client address (``RequestFacts.client``), loopback included (a
funnel or proxy delivers from loopback): ``HOOK_RATE_LIMIT`` (``http.host``) failures in its window answer 429 with
``Retry-After`` until the lockout ends. A request without any token is no guess and is not counted. While
an address is locked out, a correct token from a direct-local client (the owner's own scripts; no proxy
headers) still gets in, as ``exemptLoopback`` lets the owner in on the WebSocket; from anywhere else the
lockout holds whatever the token, or the answer would tell a guesser when it hit.

``/wake`` queues a system event on the main session (and beats now);
``/agent`` starts an isolated turn in the ``cron`` lane and answers 202 at once, posting a summary to the
main session when it ends. Mappings route other sub-paths with ``{{…}}`` templates over the payload.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from quart import Response, request

from ..gateway.auth import client_key, secret_matches
from .common import HttpError, json_response, read_json, request_facts, retry_after

if TYPE_CHECKING:
    from .host import HttpRuntime

log = logging.getLogger("moltbot.http")

MAX_BODY = 262_144
_TEMPLATE = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _lookup(root: Any, path: str) -> Any:
    value = root
    for name, index in _PATH_PART.findall(path):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        if value is None:
            return None
    return value


def render(template: str, context: dict[str, Any]) -> str:
    """``{{payload.a.b[0]}}``, ``{{headers.x}}``, ``{{query.q}}``, ``{{path}}``, ``{{now}}`` or a bare
    payload path; missing values render empty."""
    def replace(match: re.Match) -> str:
        expr = match.group(1)
        if expr == "now":
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        head = expr.split(".", 1)[0].split("[", 1)[0]
        value = _lookup(context, expr) if head in ("payload", "headers", "query", "path") else \
            _lookup(context["payload"], expr)
        return "" if value is None else str(value)

    return _TEMPLATE.sub(replace, template)


def _supplied_token() -> str | None:
    header = request.headers.get("authorization", "")
    supplied = header[7:].strip() if header.lower().startswith("bearer ") else None
    return supplied or request.headers.get("x-moltbot-token") or None


def _rate_limited(retry_after_ms: int) -> HttpError:
    return HttpError(429, "Too Many Requests", retry_after(retry_after_ms))


def _authorize(runtime: HttpRuntime) -> None:
    """The hooks token, under the per-address failure limit (see the module docstring for who is let in
    during a lockout)."""
    if "token" in request.args:
        raise HttpError(400, {"ok": False, "error": "hook token must be sent in the Authorization or "
                                                    "X-Moltbot-Token header, not in the URL"})
    facts = request_facts(runtime)
    limiter = runtime.hook_limiter
    key = ("hook", client_key(facts.client))
    supplied = _supplied_token()
    expected = runtime.config.hooks.token
    ok = expected is not None and bool(expected) and secret_matches(supplied, expected)
    locked = limiter.retry_after_ms(key)
    if ok and (locked is None or facts.direct):
        return
    if locked is not None:
        raise _rate_limited(locked)
    if supplied:  # a request without a token guesses nothing: counting it would only let pages lock us out
        locked = limiter.fail(key)
        if locked is not None:
            raise _rate_limited(locked)
    raise HttpError(401, "Unauthorized")


def _wake(runtime: HttpRuntime, text: str, mode: str) -> Response:
    runtime.system_event(text)
    if mode == "now":
        runtime.heartbeat.request_now()
    return json_response({"ok": True, "mode": mode})


def _agent(runtime: HttpRuntime, payload: dict[str, Any]) -> Response:
    message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        raise HttpError(400, {"ok": False, "error": "message required"})
    name = payload.get("name") if isinstance(payload.get("name"), str) else "Hook"
    session_key = payload.get("sessionKey") or f"hook:{uuid.uuid4()}"
    timeout = payload.get("timeoutSeconds")
    run, _ = runtime.agents.submit(run_id=f"hook-{uuid.uuid4().hex}", session_key=session_key, message=message,
                                   dedupe="hook", lane="cron",
                                   timeout=float(timeout) if isinstance(timeout, (int, float)) else None)

    async def post_summary() -> None:
        await run.done.wait()
        summary = (run.text or run.error or run.status)[:500]
        runtime.system_event(f"Hook {name}: {summary}")
        if payload.get("wakeMode") == "now":
            runtime.heartbeat.request_now()

    runtime.agents.spawn(post_summary)
    return json_response({"ok": True, "runId": str(uuid.uuid4())}, 202)


async def handle_hook(runtime: HttpRuntime, sub_path: str) -> Response:
    _authorize(runtime)
    if request.method != "POST":
        raise HttpError(405, "Method Not Allowed", {"Allow": "POST"})
    if not sub_path:
        raise HttpError(404, "Not Found")
    payload = await read_json(MAX_BODY, too_large=HttpError(413, {"ok": False, "error": "payload too large"}))
    if not isinstance(payload, dict):
        raise HttpError(400, {"ok": False, "error": "body must be a JSON object"})
    if sub_path == "wake":
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            raise HttpError(400, {"ok": False, "error": "text required"})
        mode = payload["mode"] if payload.get("mode") in ("now", "next-heartbeat") else "now"
        return _wake(runtime, text.strip(), mode)
    if sub_path == "agent":
        return _agent(runtime, payload)
    context = {"payload": payload, "headers": dict(request.headers), "query": dict(request.args), "path": sub_path}
    for mapping in runtime.config.hooks.mappings:
        if not isinstance(mapping, dict):
            continue
        match = mapping.get("match") or {}
        if match.get("path") not in (None, sub_path) or match.get("source") not in (None, payload.get("source")):
            continue
        try:
            if mapping.get("action", "agent") == "wake":
                return _wake(runtime, render(mapping.get("textTemplate") or "{{path}}", context),
                             mapping.get("wakeMode", "now"))
            message = render(mapping.get("messageTemplate") or "{{payload}}", context)
            return _agent(runtime, {**mapping, "message": message})
        except HttpError:
            raise
        except Exception:
            log.exception("hook mapping for %s failed", sub_path)
            raise HttpError(500, {"ok": False, "error": "hook mapping failed"}) from None
    raise HttpError(404, "Not Found")



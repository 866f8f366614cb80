"""The gateway's HTTP app (quart-trio): probes, hooks, tools, the OpenAI endpoints, Slack events, the Control UI.

``http.asgi`` imports this module at the first HTTP request and routes every HTTP request here after the
Host/Origin guard (probes before it); WebSocket upgrades never reach Quart.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import trio
from quart import Response, request
from quart_trio import QuartTrio

from ..channels.slack.http_events import handle_slack_events
from .asgi import probe_kind
from .common import (
    TEXT_PLAIN,
    HttpError,
    authorize,
    disabled,
    error_response,
    method_not_allowed,
    not_found,
    read_json,
    verify_tailscale,
)
from .control_ui import serve_control_ui
from .hooks import handle_hook
from .openai import MAX_BODY as CHAT_MAX_BODY
from .openai import chat_completions, models
from .probes import answer_probe
from .responses import responses
from .tools import MAX_BODY as TOOLS_MAX_BODY
from .tools import tools_invoke

if TYPE_CHECKING:
    from .host import HttpHost, HttpRuntime

log = logging.getLogger("moltbot.http")


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DRAIN_BYTES = 64 * 1024  # an unread request body up to this size is read and dropped to keep the connection
DRAIN_SECONDS = 2.0  # how long an answer waits for the rest of such a body before giving the connection up


async def settle_body(response: Response) -> Response:
    """Leave the connection reusable after an answer that did not read the request body, or say it ends.

    An early answer (401, 404, 405, too large) is given before the body is read. HTTP/1.1 clients send
    the body anyway and may send their next request behind it, so the connection is only reused if the
    body is read to its end first: a small one (``DRAIN_BYTES``, within ``DRAIN_SECONDS``) is drained and
    dropped; otherwise the answer carries ``Connection: close`` and the server closes after it.
    """
    if response.headers.get("Connection", "").lower() == "close":
        return response
    read = 0
    with trio.move_on_after(DRAIN_SECONDS):
        async for chunk in request.body:  # ends at once when the body is empty or was read already
            read += len(chunk)
            if read > DRAIN_BYTES:
                break
        else:
            return response
    response.headers["Connection"] = "close"
    return response


# A percent escape left after the server's one decoding: the path was encoded twice (``%252f``, ``%252e``).
_STILL_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


API_PREFIXES = ("/v1", "/tools", "/hooks", "/api")  # API clients there expect JSON, never the dashboard
CHAT_KEY = "gateway.http.endpoints.chatCompletions.enabled"
RESPONSES_KEY = "gateway.http.endpoints.responses.enabled"


def under(path: str, base: str) -> bool:
    return path == base or path.startswith(base + "/")


async def dispatch(runtime: HttpRuntime, path: str) -> Response:
    """The original's HTTP dispatch order; the first match answers.

    A path still holding a percent escape after the server decoded it once is refused before any handler
    (GHSA-v865-p3gq-hw6m: a multi-encoded ``%252f`` bypassed auth on a protected prefix when one layer
    matched the prefix and another decoded again). No handler here decodes twice; this keeps it so for
    hook mappings, plugins or proxies that might.

    Unlike the reference, nothing under an API prefix reaches the Control UI: a disabled endpoint is a
    404 naming its config key, any other unknown API path a JSON 404.
    """
    if _STILL_ENCODED.search(path):
        return Response("Bad Request", status=400, content_type=TEXT_PLAIN)
    await verify_tailscale(runtime)
    config = runtime.config
    hooks = config.hooks
    hooks_base = "/" + hooks.path.strip("/")
    if under(path, hooks_base):
        if hooks.enabled and hooks.token:
            return await handle_hook(runtime, path[len(hooks_base):].strip("/"))
        raise disabled("webhooks", f"set hooks.enabled to true and hooks.token (served under {hooks_base})")
    if path == "/tools/invoke":
        if request.method != "POST":
            raise method_not_allowed()
        authorize(runtime)
        return await tools_invoke(runtime, await read_json(TOOLS_MAX_BODY))
    slack = await handle_slack_events(runtime.channels, path)  # the reference's third: Slack's webhookPath routes
    if slack is not None:
        return slack
    endpoints = config.gateway.http.endpoints
    if path == "/v1/responses":
        if not endpoints.responses.enabled:
            raise disabled("/v1/responses", f"set {RESPONSES_KEY} to true")
        if request.method != "POST":
            raise method_not_allowed()
        authorize(runtime)
        return await responses(runtime, await read_json(endpoints.responses.max_body_bytes))
    if path == "/v1/chat/completions" or under(path, "/v1/models"):
        if not endpoints.chat_completions.enabled:
            raise disabled("/v1/models" if path != "/v1/chat/completions" else path, f"set {CHAT_KEY} to true")
        return await _chat_or_models(runtime, path)
    if any(under(path, prefix) for prefix in API_PREFIXES):
        raise not_found(path)
    if config.gateway.control_ui.enabled:
        answer = await serve_control_ui(config, path, lambda: authorize(runtime))
        if answer is not None:
            return answer
    return Response("Not Found", status=404, content_type=TEXT_PLAIN)


async def _chat_or_models(runtime: HttpRuntime, path: str) -> Response:
    """The two endpoints ``gateway.http.endpoints.chatCompletions`` turns on (the reference's OpenAI pair)."""
    if path == "/v1/chat/completions":
        if request.method != "POST":
            raise method_not_allowed()
        authorize(runtime)
        return await chat_completions(runtime, await read_json(CHAT_MAX_BODY))
    if request.method != "GET":
        raise method_not_allowed("GET")
    authorize(runtime)
    return models(runtime, path)


def make_http_app(gateway: HttpHost) -> QuartTrio:
    app = QuartTrio("moltbot")
    app.config["MAX_CONTENT_LENGTH"] = None  # each endpoint enforces its own limit while reading
    app.after_request(settle_body)

    @app.route("/", defaults={"path": ""}, methods=ALL_METHODS)
    @app.route("/<path:path>", methods=ALL_METHODS)
    async def handle(path: str) -> Response:
        try:
            kind = probe_kind("/" + path)
            if kind is not None:  # answered now, also while the Runtime is being replaced
                return answer_probe(gateway, kind)
            return await dispatch(await gateway.current_runtime(), "/" + path)
        except HttpError as exc:
            return error_response(exc)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            return Response("Internal Server Error", status=500, content_type=TEXT_PLAIN)

    return app

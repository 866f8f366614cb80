"""What the HTTP endpoints share: bearer auth, bounded JSON bodies, the reference's error shapes.

Errors: 401 ``{"error":{"message":"Unauthorized","type":"unauthorized"}}`` (also when an address is rate
limited, with ``Retry-After``), 400 ``{"error":{"message":…,"type":"invalid_request_error"}}`` for bad JSON,
a too-large body (naming the limit; the answer closes the connection) or invalid fields, 405 ``Method Not
Allowed`` with ``Allow: POST``, 404 ``{"error":{"message":…,"type":"not_found"}}`` for an unknown API path or
a disabled endpoint (naming the config key that enables it: a 405 there sent users looking for the wrong fix). Handlers raise ``HttpError``; ``error_response`` renders it. Nothing
internal (Python's exception texts, tracebacks, paths, secrets) is sent: the reference sends the JSON
parser's message for bad JSON; ours says where the JSON broke, in our words.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, cast

from quart import Response, request

from ..gateway.origin import RequestFacts, facts_of
from ..protocol import INVALID_REQUEST, JsonLimitError, ProtocolError, RemoteProtocolError, dumps, parse_json

if TYPE_CHECKING:
    from .host import HttpRuntime


log = logging.getLogger("moltbot.http")


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


TEXT_PLAIN = "text/plain; charset=utf-8"  # every text answer of the original carries the charset


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Compact, as the original's JSON.stringify.
    return Response(dumps(body), status=status,
                    headers=headers or {}, content_type="application/json; charset=utf-8")


def error_response(error: HttpError) -> Response:
    if isinstance(error.body, str):
        return Response(error.body, status=error.status, headers=error.headers, content_type=TEXT_PLAIN)
    return json_response(error.body, error.status, error.headers)


def invalid(message: str) -> HttpError:
    return HttpError(400, {"error": {"message": message, "type": "invalid_request_error"}})


def method_not_allowed(allow: str = "POST") -> HttpError:
    return HttpError(405, "Method Not Allowed", {"Allow": allow})


MAX_PATH_IN_ERROR = 120  # an unknown path is echoed up to this many characters


def not_found(path: str) -> HttpError:
    """An API path (``/v1/…``, ``/api/…``) nothing serves: JSON, as the API clients there expect."""
    shown = path if len(path) <= MAX_PATH_IN_ERROR else path[:MAX_PATH_IN_ERROR] + "…"
    return HttpError(404, {"error": {"message": f"Not Found: no endpoint at {request.method} {shown}",
                                     "type": "not_found"}})


def disabled(what: str, fix: str) -> HttpError:
    """An endpoint that exists but is off in the config: the 404 says which key turns it on."""
    return HttpError(404, {"error": {"message": f"{what} is disabled: {fix}", "type": "not_found"}})


def request_facts(runtime: HttpRuntime) -> RequestFacts:
    """What the Host/Origin guard found out about this request (``gateway.origin.RequestFacts``): among
    them the address auth failures count against (``.client``: the forwarded client's behind a trusted
    proxy) and whether it is direct-local (``.direct``)."""
    return facts_of(request_scope(), runtime.config.gateway)


def request_scope() -> dict[str, Any]:
    """The current request's ASGI scope as the plain dict it is (quart types it as hypercorn's TypedDicts,
    which have no room for the keys we add)."""
    return cast(dict[str, Any], request.scope)


def retry_after(retry_after_ms: int) -> dict[str, str]:
    """``Retry-After`` in whole seconds, rounded up: a client that waits that long is let in again."""
    return {"Retry-After": str(max(1, -(-int(retry_after_ms) // 1000)))}


def bearer() -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


TAILSCALE_IDENTITY = "moltbot.tailscale_identity"  # the request scope's verified Tailscale user


async def verify_tailscale(runtime: HttpRuntime) -> None:
    """Check what a request through Tailscale Serve claims with tailscaled, once, before any handler
    (``authorize`` is synchronous); the verified identity, if any, is kept in the request's scope."""
    claim = request_facts(runtime).tailscale
    if claim is not None and runtime.authenticator.tailscale is not None:
        request_scope()[TAILSCALE_IDENTITY] = await runtime.authenticator.tailscale_identity(claim)


def authorize(runtime: HttpRuntime) -> None:
    """The gateway token (or password) as ``Authorization: Bearer``, or a Tailscale identity tailscaled
    confirmed (``verify_tailscale``); failures count toward the limit, as the WebSocket's do (per address;
    per Origin only for direct-local browsers)."""
    facts = request_facts(runtime)
    try:
        runtime.authenticator.verify(bearer(), facts.client, origin=facts.origin, direct=facts.direct,
                                     identity=request_scope().get(TAILSCALE_IDENTITY))
    except ProtocolError as exc:
        headers = retry_after(exc.retry_after_ms) if exc.retry_after_ms else {}
        raise HttpError(401, {"error": {"message": "Unauthorized", "type": "unauthorized"}}, headers) from None


async def read_json(limit: int, *, too_large: HttpError | None = None) -> Any:
    """The request body as JSON (empty → ``{}``), refusing bodies over ``limit`` bytes."""
    too_large = too_large or invalid(f"payload too large: the limit is {limit} bytes")
    # The rest of the body is not read: the client must not reuse this connection.
    too_large.headers.setdefault("Connection", "close")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.body:
        body += chunk
        if len(body) > limit:
            raise too_large
    if not body.strip():
        return {}
    return parse_body(body)


def parse_body(body: bytes | bytearray) -> Any:
    """JSON from a request body, within the WebSocket's limits (``protocol._json``: nesting, integer
    digits, numbers beyond a double; no ``NaN``/``Infinity``); errors in our words (where the JSON broke,
    not Python's parser message), bounded."""
    data = bytes(body)
    try:
        return parse_json(data)
    except JsonLimitError as exc:
        raise invalid(f"invalid JSON: {exc.message}") from None
    except RemoteProtocolError:
        raise invalid(_why_invalid(data)) from None


def _why_invalid(data: bytes) -> str:
    """Where ``data`` (which ``parse_json`` refused as not JSON) breaks: parsed again, on this path only."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid JSON: the body is not UTF-8"
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return f"invalid JSON at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError):
        pass
    return "invalid JSON: NaN and Infinity are not JSON"


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def submit_error(exc: Exception) -> HttpError:
    """A run that could not start: the gateway's own reason (``ProtocolError``), never Python's text."""
    if isinstance(exc, ProtocolError):
        if exc.code == INVALID_REQUEST:
            return invalid(exc.message)
        return HttpError(503, {"error": {"message": exc.message, "type": "api_error"}})
    log.exception("HTTP run could not start")
    return HttpError(503, {"error": {"message": "the run could not be started", "type": "api_error"}})

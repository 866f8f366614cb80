"""``browser.request``: the browser control API over the WebSocket, served by this gateway's own service.

The request runs through the same routes as the HTTP API (``browser.service.BrowserControl.handle``), in
process, so it needs no second credential. A 2xx answer is the result; anything else becomes an error with
the service's reason (4xx: INVALID_REQUEST, 5xx: UNAVAILABLE; ``details.status`` is the HTTP status).

Node routing (``gateway.nodes.browser``, as the original's browser tool decides it): with ``mode: off`` the
local service always answers. ``node`` names a node: the request goes to it (``node.invoke`` of
``browser.proxy``, which must be allowlisted and declared), or fails when it is not connected. Otherwise,
``mode: auto`` sends it to the one browser-capable node connected when this gateway has no browser of its
own (the service off); ``manual`` never picks a node by itself. The node's ``{result}`` is the answer
(files it sends along are not stored here).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import trio

from ...nodes import policy
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    UNSET,
    BrowserRequestParams,
    RemoteProtocolError,
    parse_json,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

DEFAULT_TIMEOUT_MS = 30_000


async def browser_request(runtime: Runtime, connection: Connection, params: BrowserRequestParams) -> Any:
    node = _browser_node(runtime)
    if node is not None:
        return await _via_node(runtime, node, params)
    service = runtime.browser
    control = service.control
    if control is None:
        why = service.last_error or (
            "browser control is disabled (browser.enabled, CLAWDBOT_SKIP_BROWSER_CONTROL_"
            "SERVER, or an embedded gateway without browser.controlPort)"
        )
        raise RemoteProtocolError(UNAVAILABLE, why)
    query = {
        str(k): v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in (params.query or {}).items()
    }
    body = None if params.body is UNSET else params.body
    timeout_ms = params.timeout_ms or DEFAULT_TIMEOUT_MS
    with trio.move_on_after(timeout_ms / 1000) as scope:
        status, answer = await control.handle(params.method, params.path, query, body)
    if scope.cancelled_caught:
        raise RemoteProtocolError(UNAVAILABLE, f"browser request timed out after {timeout_ms} ms")
    if status >= 400:
        reason = answer.get("error") if isinstance(answer, dict) else None
        raise RemoteProtocolError(
            INVALID_REQUEST if status < 500 else UNAVAILABLE,
            str(reason or f"HTTP {status}"),
            details={"status": status},
        )
    return answer


def _browser_node(runtime: Runtime) -> Any:
    rule = runtime.config.gateway.nodes.browser
    if rule.mode == "off":
        return None
    nodes = runtime.nodes
    capable = [
        session
        for session in nodes.registry.sessions.values()
        if policy.refusal("browser.proxy", session.commands, nodes.allowlist_for(session.connection)) is None
    ]
    if rule.node:
        wanted = [s for s in capable if rule.node in (s.node_id, s.connection.params.client.display_name)]
        if not wanted:
            raise RemoteProtocolError(
                UNAVAILABLE,
                f"browser node {rule.node[:64]} is not connected (or may not "
                "run browser.proxy): gateway.nodes.browser.node",
            )
        return wanted[0]
    if rule.mode == "auto" and runtime.browser.control is None and len(capable) == 1:
        return capable[0]
    return None


async def _via_node(runtime: Runtime, node: Any, params: BrowserRequestParams) -> Any:
    timeout_ms = params.timeout_ms or DEFAULT_TIMEOUT_MS
    request = {
        "method": params.method,
        "path": params.path,
        "query": params.query or {},
        "timeoutMs": timeout_ms,
        **({} if params.body is UNSET else {"body": params.body}),
    }
    outcome = await runtime.nodes.registry.invoke(
        node, "browser.proxy", request, timeout_ms=timeout_ms, idempotency_key=str(uuid.uuid4())
    )
    if not outcome.ok:
        error = outcome.error or {}
        raise RemoteProtocolError(
            UNAVAILABLE,
            str(error.get("message") or "browser proxy failed")[:300],
            details={"nodeId": node.node_id, "nodeError": error},
        )
    payload = outcome.payload
    if outcome.payload_json is not None:
        try:
            payload = parse_json(outcome.payload_json)
        except RemoteProtocolError:
            payload = None
    if not isinstance(payload, dict) or "result" not in payload:
        raise RemoteProtocolError(
            UNAVAILABLE, "browser proxy failed: the node answered no result", details={"nodeId": node.node_id}
        )
    return payload["result"]

"""``browser.request``: the browser control API over the WebSocket, served by this gateway's own service.

The request runs through the same routes as the HTTP API (``browser.service.BrowserControl.handle``), in
process, so it needs no second credential. A 2xx answer is the result; anything else becomes an error with
the service's reason (4xx: INVALID_REQUEST, 5xx: UNAVAILABLE; ``details.status`` is the HTTP status).
Routing to a browser-capable node (``gateway.nodes.browser``) is not implemented: the local service answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from ...protocol import INVALID_REQUEST, UNAVAILABLE, RemoteProtocolError
from ...protocol._frames import UNSET
from ...protocol._payloads.browser import BrowserRequestParams

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

DEFAULT_TIMEOUT_MS = 30_000


async def browser_request(runtime: Runtime, connection: Connection, params: BrowserRequestParams) -> Any:
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

"""HTTP access lines: ``GET /v1/models 200 3.1 ms remote=…`` at info, one per request, on ``moltbot.http``.

An ASGI wrapper around the whole app, so every HTTP answer is seen, those of the Host/Origin guard
included. The path is logged without its query string (tokens travel there: ``?token=``), bounded and on
one line; probes (``/healthz`` and the like, asked every few seconds) are logged at debug. WebSocket
upgrades are not HTTP requests here (the connection log has them). The wrapper costs a clock read and one
closure per request, and nothing when ``moltbot.http`` is above info.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .._util import field

log = logging.getLogger("moltbot.http")

PATH_MAX = 200
# Uptime checks and container probes ask every few seconds: their lines go to debug, not info.
PROBE_PATHS = frozenset({"/healthz", "/health", "/readyz", "/ready", "/startupz", "/startup"})


def access_logged(app: Any) -> Any:
    """``app`` with an access line logged when each HTTP response starts (its status is known then)."""

    async def logged(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            level = logging.DEBUG if scope.get("path") in PROBE_PATHS else logging.INFO
            log.log(level, "%s %s %s %.1f ms remote=%s", field(scope.get("method", "?"), 16),
                     field(scope.get("path", "") or "/", PATH_MAX), status[0] if status else "none",
                     (time.perf_counter() - started) * 1000, field(client[0]) if client else "?")

    return logged

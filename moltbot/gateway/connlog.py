"""The log lines of a client connection: connect, disconnect and refused handshakes at info; the connect
frame and each call at debug (``--verbose``).

Why a module of its own: ``connection.py`` stays about moving frames, and what a line may show is decided
in one place. A line never holds a secret: the connect frame's ``auth`` is named by its kind only
(``token``, ``password``, ``device-token``), never its value, and calls are logged by method and id, never
their params or results. Strings a client chose (its version, platform) are cut to ``FIELD_MAX``
characters with control characters replaced, so a client cannot forge lines on the console. Debug
lines are built only when debug is on (the callers check ``log.isEnabledFor``), so they cost nothing at
info.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from .._util import field

if TYPE_CHECKING:
    from ..protocol import Accept, Call, Reject
    from .connection import Connection

log = logging.getLogger("moltbot.gateway")

_AUTH_KINDS = ("token", "password", "device_token", "bootstrap_token")


def _who(connection: Connection) -> str:
    client = connection.params.client
    return (f"conn={connection.conn_id[:8]} client={field(client.id)} mode={field(client.mode)} "
            f"remote={field(connection.transport.peer)}")


def log_connect(connection: Connection) -> None:
    session = connection.session
    identity = getattr(connection.transport, "tailscale_identity", None)  # a verified Tailscale user
    user = f" auth=tailscale user={field(identity.login)}" if identity is not None else ""
    log.info("client connected: %s role=%s protocol=%s version=%s%s", _who(connection), session.role,
             session.protocol, field(connection.params.client.version), user)


def log_disconnect(connection: Connection) -> None:
    duration = trio.current_time() - connection.opened_at
    code = connection.close_code if connection.close_code is not None else "none"
    slow = " (slow consumer)" if connection.slow else ""
    log.info("client disconnected: %s duration=%.1fs code=%s%s", _who(connection), duration, code, slow)


def auth_kinds(accept: Accept) -> str:
    """Which secrets the connect frame carried, by name only."""
    auth = accept.params.auth
    if auth is None:
        return "none"
    return ",".join(kind for kind in _AUTH_KINDS if getattr(auth, kind, None)) or "none"


def log_connect_frame(accept: Accept, peer: str) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    params, client = accept.params, accept.params.client
    log.debug("connect frame from %s: client=%s mode=%s version=%s platform=%s protocol=%s..%s role=%s auth=%s "
              "device=%s", field(peer), field(client.id), field(client.mode), field(client.version),
              field(client.platform), params.min_protocol, params.max_protocol, field(accept.role),
              auth_kinds(accept), "yes" if params.device is not None else "no")


def log_rejected(reject: Reject, peer: str) -> None:
    """An auth failure (its reason and the peer, never the secret) or another refused handshake."""
    error = reject.response.error if reject.response is not None else None
    message = error.message if error is not None else reject.close_reason
    details = error.details if error is not None and isinstance(error.details, dict) else {}
    reason = f" reason={field(details['authReason'])}" if details.get("authReason") else ""
    what = "auth failed" if reject.close_reason.startswith("unauthorized") else "handshake refused"
    log.info("%s from remote=%s: %s%s (close %s)", what, field(peer), field(message, 240), reason, reject.close_code)


def log_call(connection: Connection, call: Call, error: str | None, size: int, seconds: float) -> None:
    """A handled request at debug: method, id, outcome (ok or the error code) and time."""
    log.debug("call %s id=%s conn=%s %s %.1f ms (%d bytes)", call.spec.name, field(call.request_id),
              connection.conn_id[:8], error or "ok", seconds * 1000, size)

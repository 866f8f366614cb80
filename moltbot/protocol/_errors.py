"""The protocol's error tree and its wire hints.

A ``ProtocolError`` is what a handler or the protocol layer raises when a request cannot be served. It
carries everything the wire needs: the error ``code``/``message``/``details`` for the ``res`` frame, and
optionally a close code and reason when the connection must end. Errors are translated to frames at
exactly one boundary (the gateway's connection task); handlers never build error frames.

``RemoteProtocolError`` means the peer sent something bad; ``LocalProtocolError`` means we misused the
protocol (a bug on our side, or a client of ours calling a method wrongly).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AGENT_TIMEOUT",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TICK_TIMEOUT",
    "ERROR_CODES",
    "FORBIDDEN",
    "INVALID_REQUEST",
    "LocalProtocolError",
    "NOT_LINKED",
    "NOT_PAIRED",
    "ProtocolError",
    "RemoteProtocolError",
    "UNAVAILABLE",
    "truncate_close_reason",
]

INVALID_REQUEST = "INVALID_REQUEST"
UNAVAILABLE = "UNAVAILABLE"
NOT_PAIRED = "NOT_PAIRED"
NOT_LINKED = "NOT_LINKED"
AGENT_TIMEOUT = "AGENT_TIMEOUT"
FORBIDDEN = "FORBIDDEN"  # protocol 4: a missing scope (HTTP 403)
ERROR_CODES = (INVALID_REQUEST, UNAVAILABLE, NOT_PAIRED, NOT_LINKED, AGENT_TIMEOUT, FORBIDDEN)

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_SERVICE_RESTART = 1012
CLOSE_TICK_TIMEOUT = 4000

_CLOSE_REASON_MAX_BYTES = 120


def truncate_close_reason(reason: str) -> str:
    """Cut a close reason to 120 UTF-8 bytes (the reference's limit; RFC 6455 allows 123). A lone
    surrogate (from a client's ``"\\ud800"``) becomes the text ``\\ud800``: a close frame must be UTF-8."""
    raw = reason.encode("utf-8", errors="backslashreplace")
    return raw[:_CLOSE_REASON_MAX_BYTES].decode("utf-8", errors="ignore")


class ProtocolError(Exception):
    """An error that reaches a client as ``{ok:false, error:{code, message, details}}``.

    Args:
        code: one of ``ERROR_CODES``.
        message: human-readable, never containing secrets.
        details: optional JSON-able value sent as ``error.details``.
        close_code: when set, the connection is closed with this code after the error is sent.
        close_reason: the close reason; defaults to ``message`` (truncated to 120 bytes).
        retry_after_ms: sent as ``error.retryAfterMs`` (and ``retryable: true``) when set.
        payload: sent as the response's ``payload`` beside the error (only ``agent`` failures do this).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Any = None,
        close_code: int | None = None,
        close_reason: str | None = None,
        retry_after_ms: int | None = None,
        payload: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.payload = payload
        self.details = details
        self.close_code = close_code
        self.close_reason = truncate_close_reason(close_reason if close_reason is not None else message)
        self.retry_after_ms = retry_after_ms

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class LocalProtocolError(ProtocolError):
    """We (or the code driving this side) tried to do something the protocol does not allow."""

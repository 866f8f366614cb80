"""The three wire frames (``req``, ``res``, ``event``), the error shape and the shared value types.

Frames are ``@attrs.frozen`` and never subclassed ad hoc. Field names are snake_case here and camelCase
on the wire (the converter in ``_codec`` renames). Constraints live in the annotations
(``Annotated[str, MinLen(1)]`` and friends) so that the converter enforces them on input, the JSON Schema
generator describes them, and hypothesis generates values that satisfy them, all from one source.

``UNSET`` marks a field that is absent on the wire, distinct from an explicit ``null``: a response's
``payload`` may legitimately be ``null`` (``last-heartbeat`` before any heartbeat).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import attrs
from annotated_types import Ge, MaxLen, MinLen

__all__ = [
    "UNSET",
    "ErrorShape",
    "EventFrame",
    "Frame",
    "NonEmptyStr",
    "NonNegativeInt",
    "PositiveInt",
    "RequestFrame",
    "ResponseFrame",
    "StateVersion",
    "TraceParent",
]

NonEmptyStr = Annotated[str, MinLen(1)]
NonNegativeInt = Annotated[int, Ge(0)]
PositiveInt = Annotated[int, Ge(1)]


class _Unset:
    """The type of ``UNSET``: a key that is absent from the JSON object."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()  # Any: a field of any declared (wire) type may default to it


@attrs.frozen
class ErrorShape:
    """``error`` of a failed ``res``."""

    code: NonEmptyStr
    message: NonEmptyStr
    details: Any = UNSET
    retryable: bool | None = None
    retry_after_ms: NonNegativeInt | None = None


@attrs.frozen
class StateVersion:
    """Versions of the presence list and the health summary; clients drop older events."""

    presence: NonNegativeInt
    health: NonNegativeInt


# A W3C trace context header value (protocol 4's ``RequestFrame.traceparent``): accepted at every version,
# bounded so that a frame cannot carry an unbounded string under it; its content is not interpreted here.
TraceParent = Annotated[str, MaxLen(128)]


@attrs.frozen
class RequestFrame:
    """``{type:"req", id, method, params?, traceparent?}``.

    ``traceparent`` (≤ 128 characters, longer makes the frame invalid) continues a caller's trace; this
    gateway records no traces, so it is accepted and otherwise ignored, as OpenClaw ignores a malformed one.
    """

    id: NonEmptyStr
    method: NonEmptyStr
    params: Any = UNSET
    traceparent: TraceParent | None = None


@attrs.frozen
class ResponseFrame:
    """``{type:"res", id, ok, payload?, error?}``."""

    id: NonEmptyStr
    ok: bool
    payload: Any = UNSET
    error: ErrorShape | None = None


@attrs.frozen
class EventFrame:
    """``{type:"event", event, payload?, seq?, stateVersion?}``."""

    event: NonEmptyStr
    payload: Any = UNSET
    seq: NonNegativeInt | None = None
    state_version: StateVersion | None = None


Frame = RequestFrame | ResponseFrame | EventFrame

FRAME_TAGS: Final[dict[type, str]] = {RequestFrame: "req", ResponseFrame: "res", EventFrame: "event"}

"""Small helpers shared across packages: the public context managers' exception groups, log fields, the
wall clock in milliseconds, snake_case → camelCase names. No trio import (``moltbot.protocol`` uses it)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trio_websocket import ConnectionClosed

FIELD_MAX = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@contextmanager
def collapse_single_exception_group() -> Iterator[None]:
    """Re-raise a nursery's group of exactly one exception as that exception.

    The context managers ``open_gateway``/``open_gateway_client`` own a nursery; without this, a refused
    connect or an error raised in the caller's ``async with`` body would reach the caller wrapped in an
    ``ExceptionGroup`` they did not ask for (trio-websocket does the same for ``open_websocket``).
    """
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            inner = group.exceptions[0]
            raise inner from inner.__cause__
        raise


def close_of(exc: ConnectionClosed) -> tuple[int | None, str]:
    """The close code and reason of a trio-websocket ``ConnectionClosed`` (``(None, "")`` when it has none)."""
    reason = exc.reason
    return (None, "") if reason is None else (reason.code, reason.reason or "")


def field(value: Any, limit: int = FIELD_MAX) -> str:
    """A client-chosen value for a log line: bounded and on one line (control characters replaced), so a
    client cannot forge lines on the console."""
    text = _CONTROL.sub("?", str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def wall_ms() -> int:
    """The wall clock in whole milliseconds since the epoch: the unit of every timestamp on the wire and on disk."""
    return time.time_ns() // 1_000_000


def camel(name: str) -> str:
    """``session_key`` → ``sessionKey``; a ``_json`` suffix is ``JSON`` (``payload_json`` → ``payloadJSON``).

    The one mapping from attrs field names to wire and config keys (``moltbot.protocol`` and ``moltbot.config``).
    """
    if name.endswith("_json"):
        return camel(name[:-5]) + "JSON"
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)

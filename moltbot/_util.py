"""Small helpers shared across packages: the public context managers' exception groups, log fields, the
wall clock in milliseconds, snake_case → camelCase names, young collections only while a command imports. No
trio import (``moltbot.protocol`` uses it)."""

from __future__ import annotations

import gc
import linecache
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


# Set by the CLI's ``main()``: a process of its own freezes what it imported (``importing``); a command run
# in another program's process (a test's CliRunner) leaves that program's objects collectable.
FREEZE_IMPORTS = False


@contextmanager
def importing() -> Iterator[None]:
    """Only young collections while a command imports its modules; then freeze what exists.

    Imports make objects that live as long as the process (modules, classes, functions), yet the
    collector's older generations walk them again and again as they pile up: a gateway spent ~100 ms of CPU
    in 151 collections before its first hello-ok (this 2-core machine under load; 40 ms of it one full
    collection), 35 ms with this. The young collections stay: they free the cyclic garbage imports do
    make (each slotted attrs class leaves the class it replaced behind in a cycle; with no collection at
    all the gateway idled 2 MiB larger). ``gc.freeze()`` afterwards (``FREEZE_IMPORTS``) moves the
    survivors to the permanent generation, which later full collections skip. Nested uses are fine.

    With ``FREEZE_IMPORTS`` the source attrs keeps in ``linecache`` for each class it made (for a debugger
    to show the generated ``__init__``; ~15,000 lines, 1.3 MiB for a gateway) is dropped too: a traceback
    through generated code still names its file and line, without the text.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], 1_000_000, 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if FREEZE_IMPORTS:
            for name in [name for name in linecache.cache if name.startswith("<attrs generated ")]:
                del linecache.cache[name]
            gc.freeze()


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

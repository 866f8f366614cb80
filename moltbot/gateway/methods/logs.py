"""``logs.tail``: complete lines of the gateway's log file after a byte cursor (read on a worker thread).

Our lines (``{"ts", "level", "logger", "msg"}``, see ``logfile``) are returned with OpenClaw's keys added:
``time`` (= ``ts``), ``subsystem`` (the logger without ``moltbot.``, dots as ``/``: ``gateway/connection``)
and ``message`` (= ``msg``), which is what today's ``openclaw logs`` reads; the file itself keeps our
format. Other lines (not JSON, or not ours) are returned as they are in the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ...protocol import LOGS_DEFAULT_LIMIT as DEFAULT_LIMIT
from ...protocol import LOGS_DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ...protocol import UNAVAILABLE, LogsTailParams, LogsTailResult, RemoteProtocolError, dumps
from ..logfile import log_file_path

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime


async def logs_tail(runtime: Runtime, connection: Connection, params: LogsTailParams) -> LogsTailResult:
    """Raises UNAVAILABLE "log read failed: …" (OpenClaw's code and prefix for an unreadable log) when
    this gateway writes no log file at all (embedded without a state dir or ``logging.file``): protocol 4's
    ``LogsTailResult.file`` is a non-empty path, and an empty one would claim a file that does not exist."""
    path = log_file_path(runtime.config)
    if path is None:
        raise RemoteProtocolError(UNAVAILABLE, "log read failed: this gateway writes no log file "
                                               "(no state directory and no logging.file)")
    return await trio.to_thread.run_sync(
        read_log_slice, path, params.cursor, params.limit or DEFAULT_LIMIT, params.max_bytes or DEFAULT_MAX_BYTES)


def read_log_slice(path: Path, cursor: int | None, limit: int, max_bytes: int) -> LogsTailResult:
    """The lines after ``cursor`` (or the end of the file), at most ``max_bytes`` and ``limit`` lines.

    Only complete lines are returned and the new cursor is the end of the last one, so a line being
    written while we read is returned whole by the next call (the reference returns the fragment and
    moves the cursor to the file size). A cursor past the end (the file was rotated or truncated) or
    further behind than ``max_bytes`` gives ``reset`` and the end of the file.
    """
    try:
        handle = open(path, "rb")  # the size is taken from this handle, so a rotation cannot mix two files
    except FileNotFoundError:
        return LogsTailResult(file=str(path), cursor=0, size=0, lines=[], truncated=False, reset=cursor not in (None, 0))
    with handle:
        size = os.fstat(handle.fileno()).st_size
        reset = cursor is not None and (cursor > size or size - cursor > max_bytes)
        start = cursor if cursor is not None and not reset else max(0, size - max_bytes)
        truncated = start > 0 and (cursor is None or reset)
        handle.seek(start - 1 if start > 0 else 0)
        data = handle.read(size - start + (1 if start > 0 else 0))
    offset = start
    if start > 0:
        previous, data = data[:1], data[1:]
        if previous != b"\n":  # started inside a line: skip to the next one
            cut = data.find(b"\n")
            data = data[cut + 1:] if cut >= 0 else b""
            offset += cut + 1 if cut >= 0 else 0
    end = data.rfind(b"\n") + 1
    lines = [line.rstrip("\r") for line in data[:end].decode("utf-8", "replace").split("\n")[:-1]]
    if len(lines) > limit:
        lines, truncated = lines[-limit:], True
    lines = [with_openclaw_keys(line) for line in lines]
    return LogsTailResult(file=str(path), cursor=offset + end, size=size, lines=lines, truncated=truncated,
                          reset=reset)


_OURS = ("ts", "level", "logger", "msg")


def subsystem(logger: str) -> str:
    name = logger.removeprefix("moltbot.") if logger != "moltbot" else logger
    return name.replace(".", "/")


def with_openclaw_keys(line: str) -> str:
    """One of our log lines with ``time``, ``subsystem`` and ``message`` added (our keys kept, first);
    any other line unchanged."""
    if not line.startswith("{"):
        return line
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str) for key in _OURS):
        return line
    added = {"time": entry["ts"], "subsystem": subsystem(entry["logger"]), "message": entry["msg"]}
    return dumps({**entry, **{key: value for key, value in added.items() if key not in entry}})

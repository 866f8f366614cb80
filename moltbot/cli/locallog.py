"""The gateway's log file read by the CLI itself, for when the gateway is down (``moltbot logs``).

Why: after a crash the log matters most and ``logs.tail`` has nobody to answer it. The file is the one the
gateway writes (``logging.file``, default ``<stateDir>/logs/gateway.log``), so it is only used when the
target is this machine's gateway (a loopback URL). Following polls the file: new bytes are read from
the same open file; when the gateway rotates it (``gateway.log`` renamed to ``.1``, a new file made) or it
is truncated, what was left in the old file is read first and reading goes on from the new file's start.
Plain blocking I/O: the command runs no event loop while it does this.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from ..gateway.logfile import log_file_path
from .rpc import Target

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def local_log_path(target: Target) -> Path | None:
    """The log file of the gateway ``target`` names, when it is on this machine; else ``None``."""
    if urlsplit(target.url).hostname not in LOOPBACK:
        return None
    return log_file_path(target.config)


def read_tail(path: Path, limit: int, max_bytes: int) -> tuple[list[str], int]:
    """The last ``limit`` whole lines within the last ``max_bytes`` bytes, and the file's size."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        start = max(0, size - max_bytes)
        file.seek(start)
        data = file.read(size - start)
    if start > 0:  # the first line is cut: drop it
        data = data.partition(b"\n")[2]
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-limit:], size


def _open(path: Path) -> IO[bytes] | None:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def follow_file(path: Path, offset: int, emit: Callable[[list[str]], None], interval: float, *,
                rotated: Callable[[], None], polls: int | None = None) -> None:
    """Print lines appended to ``path`` from ``offset`` on, until interrupted (``polls``: stop after that many
    polls, for tests). A rotated or truncated file is noticed by its inode or a size below the offset."""
    file = _open(path)
    if file is not None:
        file.seek(offset)
    pending = b""
    count = 0
    try:
        while polls is None or count < polls:
            count += 1
            if file is not None:
                pending += file.read()
            pending = _emit_lines(pending, emit)
            current = _stat(path)
            if file is None and current is not None:
                file = _open(path)
            elif file is not None and current is not None and (
                    current.st_ino != os.fstat(file.fileno()).st_ino or current.st_size < file.tell()):
                pending = _emit_lines(pending + file.read(), emit)
                file.close()
                rotated()
                file = _open(path)
                continue  # read the new file at once
            time.sleep(interval)
    finally:
        if file is not None:
            file.close()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _emit_lines(pending: bytes, emit: Callable[[list[str]], None]) -> bytes:
    """Print the whole lines of ``pending``; return the partial last line, kept for the next read."""
    whole, newline, rest = pending.rpartition(b"\n")
    if newline:
        emit(whole.decode("utf-8", "replace").splitlines())
        return rest
    return pending

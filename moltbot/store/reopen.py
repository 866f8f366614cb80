"""A rotating log file that comes back when its file or directory is removed while the process runs.

``RotatingFileHandler`` keeps writing to the file it opened: once the state dir is removed, every later
line (the very ones saying what went wrong) goes to a file no one can open. This handler checks, as
``WatchedFileHandler`` does, whether its path still names the file it holds, and if not opens it again,
making its directory (0700) and the file (0600) first.

Records are written on the Trio thread, so the check is not a ``stat`` of the path per record: it runs at
most once a second (``CHECK_SECONDS``), before every record of level WARNING or above (the lines saying
what went wrong must reach a file that can be read), and after a failed write. Rotation's own per-record
check that the path is a regular file (two more ``stat`` calls) is made once per opened file instead.
"""

from __future__ import annotations

import logging.handlers
import os
import stat
import time
from pathlib import Path
from typing import Any

from .atomic import ensure_dir

CHECK_SECONDS = 1.0


class ReopeningFileHandler(logging.handlers.RotatingFileHandler):
    """``RotatingFileHandler`` that reopens (recreating directory and file) when its file is gone."""

    clock = staticmethod(time.monotonic)  # replaceable in tests

    def __init__(self, filename: str | os.PathLike[str], **kwargs: Any) -> None:
        self._identity: tuple[int, int] | None = None
        self._regular = True
        self._check_at = -float("inf")
        super().__init__(filename, **kwargs)

    def _open(self) -> Any:
        ensure_dir(Path(self.baseFilename).parent)
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        stream = open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115 (the handler owns it)
        found = os.fstat(fd)
        self._identity = (found.st_dev, found.st_ino)
        self._regular = stat.S_ISREG(found.st_mode)
        self._check_at = self.clock() + CHECK_SECONDS
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and self._due(record) and self._gone():
            self.stream.close()
            self.stream = None  # reopened by emit (``delay`` semantics)
        super().emit(record)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        """The base class's test, with its "never rotate anything but a regular file" (bpo-45401) read
        from the file opened rather than from two ``stat`` calls per record."""
        if self.stream is None:
            self.stream = self._open()
        if not self._regular or self.maxBytes <= 0:
            return False
        self.stream.seek(0, 2)
        return self.stream.tell() + len(f"{self.format(record)}\n") >= self.maxBytes

    def handleError(self, record: logging.LogRecord) -> None:
        self._check_at = -float("inf")  # the file may be gone: look before the next record
        super().handleError(record)

    def _due(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        if record.levelno < logging.WARNING and now < self._check_at:
            return False
        self._check_at = now + CHECK_SECONDS
        return True

    def _gone(self) -> bool:
        try:
            found = os.stat(self.baseFilename)
        except OSError:
            return True
        return (found.st_dev, found.st_ino) != self._identity

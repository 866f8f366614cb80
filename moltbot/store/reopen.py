"""A rotating log file that comes back when its file or directory is removed while the process runs.

``RotatingFileHandler`` keeps writing to the file it opened: once the state dir is removed, every later
line (the very ones saying what went wrong) goes to a file no one can open. This handler checks before
each record, as ``WatchedFileHandler`` does, whether its path still names the file it holds, and if not
opens it again, making its directory (0700) and the file (0600) first.
"""

from __future__ import annotations

import logging.handlers
import os
from pathlib import Path
from typing import Any

from .atomic import ensure_dir


class ReopeningFileHandler(logging.handlers.RotatingFileHandler):
    """``RotatingFileHandler`` that reopens (recreating directory and file) when its file is gone."""

    def __init__(self, filename: str | os.PathLike[str], **kwargs: Any) -> None:
        self._identity: tuple[int, int] | None = None
        super().__init__(filename, **kwargs)

    def _open(self) -> Any:
        ensure_dir(Path(self.baseFilename).parent)
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        stream = open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115 (the handler owns it)
        stat = os.fstat(fd)
        self._identity = (stat.st_dev, stat.st_ino)
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and self._gone():
            self.stream.close()
            self.stream = None  # reopened by emit (``delay`` semantics)
        super().emit(record)

    def _gone(self) -> bool:
        try:
            stat = os.stat(self.baseFilename)
        except OSError:
            return True
        return (stat.st_dev, stat.st_ino) != self._identity

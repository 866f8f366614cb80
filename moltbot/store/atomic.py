"""Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.

A crash at any point leaves either the old file or the new one, never a torn file. Secrets get 0600.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def ensure_dir(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` and every missing parent with ``mode`` (``Path.mkdir(parents=True)`` gives the
    parents the umask's default instead: a state dir removed while the gateway runs would come back 0755)."""
    path = Path(path)
    if path.is_dir():
        return
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:  # created meanwhile by another writer
            pass


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o600, dir_mode: int = 0o700) -> None:
    """Replace ``path`` with ``data`` atomically, creating parent directories with ``dir_mode``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    _replace(Path(path), lambda handle: handle.write(raw), mode=mode, dir_mode=dir_mode)


def copy_atomic(source: Path, target: Path, *, mode: int = 0o600, dir_mode: int = 0o700) -> None:
    """Replace ``target`` with a copy of ``source`` as ``write_atomic`` writes, streamed in 1 MiB chunks."""

    def fill(handle: BinaryIO) -> None:
        with open(source, "rb") as src:
            while chunk := src.read(1024 * 1024):
                handle.write(chunk)

    _replace(Path(target), fill, mode=mode, dir_mode=dir_mode)


def _replace(path: Path, fill: Callable[[BinaryIO], object], *, mode: int, dir_mode: int) -> None:
    """Temp file beside ``path`` filled by ``fill``, fsync, rename over ``path``, fsync the directory."""
    ensure_dir(path.parent, dir_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

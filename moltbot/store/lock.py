"""One gateway per config path: an exclusive ``flock`` on a lock file named as the
original names it (``gateway.<sha1(configPath)[:8]>.lock``).

The kernel releases the lock when its holder dies, so a crashed gateway never leaves a lock that blocks the
next start (the original's pid-file lock can: a stale pid
blocks its start). The file records the holder's pid,
port and config path so a second start can say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .atomic import ensure_dir


class GatewayLockError(Exception):
    """Another gateway holds the lock for this config path."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        pid, port = holder.get("pid", "?"), holder.get("port")
        where = f", port {port}" if port else ""
        super().__init__(f"gateway already running (pid {pid}{where}) for config {holder.get('configPath', '?')}; "
                         f"lock {path}")


def lock_path(config_path: Path) -> Path:
    digest = hashlib.sha1(str(config_path).encode("utf-8")).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"moltbot-{os.getuid()}" / f"gateway.{digest}.lock"


def _process_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class GatewayLock:
    """Held while the gateway runs; ``update(port=…)`` records the bound port."""

    def __init__(self, path: Path, fd: int | None, config_path: Path) -> None:
        self.path = path
        self._fd = fd
        self._info: dict[str, Any] = {
            "pid": os.getpid(), "createdAt": datetime.now(UTC).isoformat(), "configPath": str(config_path),
            "startTime": _process_start_time(os.getpid()),
        }
        self.update()

    def update(self, **fields: Any) -> None:
        self._info.update(fields)
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps(self._info).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def acquire_gateway_lock(config_path: Path, *, env: Mapping[str, str] = os.environ,
                         wait_seconds: float = 0.0) -> GatewayLock:
    """Take the lock for ``config_path`` or raise ``GatewayLockError`` naming the holder.

    ``CLAWDBOT_ALLOW_MULTI_GATEWAY=1`` skips the lock. ``wait_seconds`` retries (used after ``--force``).
    """
    path = lock_path(config_path)
    if env.get("CLAWDBOT_ALLOW_MULTI_GATEWAY") == "1":
        return GatewayLock(path, None, config_path)
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return GatewayLock(path, fd, config_path)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    try:
        holder = json.loads(os.pread(fd, 65536, 0) or b"{}")
    except ValueError:
        holder = {}
    os.close(fd)
    raise GatewayLockError(path, holder if isinstance(holder, dict) else {})


def lock_holder(path: Path) -> tuple[bool, dict[str, Any]]:
    """(held, the holder's record). A shared lock is taken for an instant only to see whether it is held."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False, {}
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            held = True
        try:
            record = json.loads(os.pread(fd, 65536, 0) or b"{}")
        except ValueError:
            record = {}
        return held, record if isinstance(record, dict) else {}
    finally:
        os.close(fd)


def is_live_record(record: Mapping[str, Any]) -> bool:
    """Whether the process a lock record names still runs (the same process: its start time matches)."""
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    started = _process_start_time(pid)
    return started is not None and (record.get("startTime") in (None, started))


def live_lock_records() -> list[dict[str, Any]]:
    """The records of every gateway of this user that runs now (any profile), read without locking:
    a record is emptied when its gateway stops, and one left by a crash names a process that is gone."""
    directory = Path(tempfile.gettempdir()) / f"moltbot-{os.getuid()}"
    records = []
    for path in sorted(directory.glob("gateway.*.lock")):
        try:
            record = json.loads(path.read_bytes() or b"{}")
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and is_live_record(record):
            records.append(record)
    return records

"""A pending/paired pair of JSON maps in one directory (``pending.json``, ``paired.json``), kept in memory.

Both the device store (``<stateDir>/devices/``) and the node store (``<stateDir>/nodes/``) have this shape
(the original's files, read and written as they are). The maps are read once (a Runtime's lifetime) and
written whole, atomically and 0600, on every change. Saves are serialized by a lock and each writes the state
*at the time it runs*, so the last write always holds the newest state even when two changes race. Blocking
file work runs in a thread.
A directory of ``None`` keeps everything in memory (embedded gateways without a state dir).

Pending requests expire after five minutes; expiry is applied whenever the pending map is read.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import trio

from .._util import wall_ms as now_ms
from ..store.atomic import write_atomic

log = logging.getLogger("moltbot.devices")

PENDING_TTL_MS = 5 * 60 * 1000


def _read_map(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


class PairingFiles:
    """``pending`` (request id → request) and ``paired`` (id → record), mirrored to ``directory``."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._pending: dict[str, dict[str, Any]] = {}
        self.paired: dict[str, dict[str, Any]] = {}
        self._lock = trio.Lock()
        self.saves = 0

    async def load(self) -> None:
        if self.directory is None:
            return
        directory = self.directory
        self._pending, self.paired = await trio.to_thread.run_sync(
            lambda: (_read_map(directory / "pending.json"), _read_map(directory / "paired.json")))

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        cutoff = now_ms() - PENDING_TTL_MS
        for request_id in [rid for rid, request in self._pending.items() if request.get("ts", 0) < cutoff]:
            del self._pending[request_id]
        return self._pending

    async def save(self) -> None:
        """Write both maps (their state now, under the lock: the newest state lands last)."""
        if self.directory is None:
            return
        async with self._lock:
            pending = json.dumps(self.pending, indent=2)
            paired = json.dumps(self.paired, indent=2)
            directory = self.directory

            def write() -> None:
                write_atomic(directory / "pending.json", pending + "\n")
                write_atomic(directory / "paired.json", paired + "\n")

            await trio.to_thread.run_sync(write)
            self.saves += 1

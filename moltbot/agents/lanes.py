"""Lanes: runs of one session are serialized; each lane kind has a global concurrency limit.

A run first takes its session's slot (one run per session at a time, FIFO), then a slot of its lane kind
(``main`` = ``agents.defaults.maxConcurrent``, ``cron`` = ``cron.maxConcurrentRuns``, ``subagent``;
unconfigured lanes get 1). Trio's Lock and Semaphore wake waiters in FIFO order. A session's lock exists
only while runs for it are queued or active (idle lanes leave nothing behind). ``statistics()`` is what
``status`` reports: queue depth, active runs, completions and errors per lane kind since start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio


@attrs.define
class _Lane:
    limit: int
    semaphore: trio.Semaphore
    queued: int = 0
    active: int = 0
    completed: int = 0
    errors: int = 0


@attrs.frozen
class LaneStatistics:
    lane: str
    queued: int
    active: int
    max_concurrent: int
    completed: int
    errors: int


class LaneScheduler:
    def __init__(self, limits: dict[str, int]) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._sessions: dict[str, tuple[trio.Lock, int]] = {}
        for name, limit in limits.items():
            self._lane(name, limit)

    def _lane(self, name: str, limit: int = 1) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane(limit, trio.Semaphore(max(1, limit)))
        return lane

    def raise_limits(self, limits: dict[str, int]) -> None:
        """Apply higher limits at once (hot reload); a lower limit applies from the next restart."""
        for name, limit in limits.items():
            lane = self._lane(name, limit)
            while lane.limit < max(1, limit):
                lane.limit += 1
                lane.semaphore.release()

    def record_error(self, lane_name: str) -> None:
        """Count a run that ended in an error (the run reports it; the slot itself ended normally)."""
        self._lane(lane_name).errors += 1

    @asynccontextmanager
    async def slot(self, session_key: str, lane_name: str = "main") -> AsyncIterator[None]:
        lane = self._lane(lane_name)
        lock, users = self._sessions.get(session_key, (None, 0))
        if lock is None:
            lock = trio.Lock()
        self._sessions[session_key] = (lock, users + 1)
        lane.queued += 1
        queued = True
        try:
            async with lock:
                await lane.semaphore.acquire()
                lane.queued -= 1
                queued = False
                lane.active += 1
                try:
                    yield
                    lane.completed += 1
                finally:
                    lane.active -= 1
                    lane.semaphore.release()
        finally:
            if queued:
                lane.queued -= 1
            lock, users = self._sessions[session_key]
            if users <= 1:
                del self._sessions[session_key]
            else:
                self._sessions[session_key] = (lock, users - 1)

    def session_busy(self, session_key: str) -> bool:
        return session_key in self._sessions

    def statistics(self) -> list[LaneStatistics]:
        return [LaneStatistics(name, lane.queued, lane.active, lane.limit, lane.completed, lane.errors)
                for name, lane in self._lanes.items()]

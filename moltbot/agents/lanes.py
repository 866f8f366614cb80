"""Lanes: runs of one session are serialized; each lane kind has a global concurrency limit.

A run takes a ticket in its session's queue when it is submitted (so runs of a session start in the
order they were submitted, whatever order their tasks get scheduled in), waits for its turn (one run per
session at a time), then for a slot of its lane kind (``main`` = ``agents.defaults.maxConcurrent``,
``cron`` = ``cron.maxConcurrentRuns``, ``subagent``; unconfigured lanes get 1; trio's Semaphore is FIFO).
A session's queue exists only while runs for it are queued or active (idle lanes leave nothing behind). ``statistics()`` is what
``status`` reports: queue depth, active runs, completions and errors per lane kind since start.
"""

from __future__ import annotations

from collections import deque
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


@attrs.define(eq=False)
class Ticket:
    """A place in a session's queue, taken when the run is submitted (so order is submission order)."""

    session_key: str
    lane: str
    turn: trio.Event = attrs.field(factory=trio.Event)


class LaneScheduler:
    def __init__(self, limits: dict[str, int]) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._sessions: dict[str, deque[Ticket]] = {}
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

    def reserve(self, session_key: str, lane_name: str = "main") -> Ticket:
        """Take the next place in the session's queue, synchronously."""
        ticket = Ticket(session_key, lane_name)
        queue = self._sessions.setdefault(session_key, deque())
        queue.append(ticket)
        if len(queue) == 1:
            ticket.turn.set()
        self._lane(lane_name).queued += 1
        return ticket

    @asynccontextmanager
    async def slot(self, ticket: Ticket) -> AsyncIterator[None]:
        """Wait for the ticket's turn in its session, then for a slot of its lane kind."""
        lane = self._lane(ticket.lane)
        queued = True
        try:
            await ticket.turn.wait()
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
            self._release(ticket)

    def _release(self, ticket: Ticket) -> None:
        queue = self._sessions[ticket.session_key]
        queue.remove(ticket)
        if queue:
            queue[0].turn.set()
        else:
            del self._sessions[ticket.session_key]

    def session_busy(self, session_key: str) -> bool:
        return session_key in self._sessions

    def statistics(self) -> list[LaneStatistics]:
        return [LaneStatistics(name, lane.queued, lane.active, lane.limit, lane.completed, lane.errors)
                for name, lane in self._lanes.items()]

"""Long-running work (agent runs) that a restart drains instead of cutting off.

``RunTracker.open_run(name)`` wraps one run: refused with UNAVAILABLE while the Runtime drains, tracked
while it runs. ``drain(deadline)`` stops accepting, waits for the runs in flight until the deadline, then
cancels the rest; a cancelled run's caller gets ``RunCancelled`` (UNAVAILABLE "run cancelled: …") instead
of a silent loss (the original leaves such callers without their final response).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from ..protocol import UNAVAILABLE, ProtocolError


class RunCancelled(ProtocolError):
    def __init__(self, reason: str) -> None:
        super().__init__(UNAVAILABLE, f"run cancelled: {reason}")


@attrs.frozen
class RunStatistics:
    in_flight: int
    accepting: bool
    completed: int
    cancelled: int


class RunTracker:
    def __init__(self) -> None:
        self.accepting = True
        self._scopes: dict[trio.CancelScope, str] = {}
        self._idle = trio.Event()
        self._idle.set()
        self._reason = ""
        self.completed = 0
        self.cancelled = 0

    @asynccontextmanager
    async def open_run(self, name: str) -> AsyncIterator[trio.CancelScope]:
        """Run the body as a tracked run. Raises ``ProtocolError``/``RunCancelled`` as described above."""
        if not self.accepting:
            raise ProtocolError(UNAVAILABLE, f"gateway is restarting; retry {name} shortly")
        scope = trio.CancelScope()
        self._scopes[scope] = name
        self._idle = trio.Event() if len(self._scopes) == 1 else self._idle
        try:
            with scope:
                yield scope
        finally:
            del self._scopes[scope]
            if not self._scopes:
                self._idle.set()
        if scope.cancelled_caught and not self.accepting:
            self.cancelled += 1
            raise RunCancelled(self._reason)
        self.completed += 1

    async def drain(self, deadline: float, reason: str) -> None:
        """Refuse new runs; wait for those in flight until ``deadline`` (trio clock); cancel the rest."""
        self.accepting = False
        self._reason = reason
        with trio.move_on_at(deadline):
            await self._idle.wait()
        for scope in list(self._scopes):
            scope.cancel(reason=f"drain: {reason}")
        await self._idle.wait()

    def statistics(self) -> RunStatistics:
        return RunStatistics(len(self._scopes), self.accepting, self.completed, self.cancelled)

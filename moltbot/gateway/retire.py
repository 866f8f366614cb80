"""How a Runtime ends: its runs finished, its services stopped, its clients sent off, a batch at a time.

A stop drains at once (``Runtime.drain``). A restart goes in two steps, so that the next Runtime serves as
soon as possible: ``begin`` (runs finished or cancelled, no request acted on any more) and ``retire`` (the
services that must never run twice stopped, e.g. the channel pollers), then, once the next Runtime
accepts, ``send_off`` (``shutdown`` and 1012 to every client, bounded) while the old Runtime's task waits
for its last connection to go (``wait_closed``).
"""

from __future__ import annotations

import trio

from ..protocol import CLOSE_SERVICE_RESTART, ShutdownEvent
from .broadcast import Broadcaster

__all__ = ["SEND_OFF_BATCH", "SEND_OFF_BATCH_SECONDS", "Retirement"]

SEND_OFF_BATCH = 32  # clients sent ``shutdown`` + 1012 at a time (``send_off``)
SEND_OFF_BATCH_SECONDS = 0.05  # how long a batch may take to close before the next one is sent


class Retirement:
    """The end of one Runtime: whether it drains, its services' cancel scope, and its connections' going."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster
        self.draining = False  # no connection registers and no request is acted on any more
        self.services_scope = trio.CancelScope()  # around the Runtime's services; cancelled by ``retire``
        self.services_ended = trio.Event()
        self._all_closed = trio.Event()
        self._unregistered = trio.Event()  # while draining: set (and replaced) as each connection goes

    def begin(self) -> None:
        self.draining = True

    async def retire(self) -> None:
        """Stop the services and return once they have ended (``services_ended``)."""
        self.services_scope.cancel(reason="runtime retired")
        await self.services_ended.wait()

    def connection_gone(self) -> None:
        """A connection unregistered (after the broadcaster dropped it)."""
        if not self.draining:
            return
        if not self._broadcaster.connections:
            self._all_closed.set()
        self._unregistered.set()
        self._unregistered = trio.Event()

    async def send_off(self, reason: str, restart_expected_ms: int | None) -> None:
        """Send every client ``shutdown`` and its 1012 close, queued behind what it is still owed.

        ``SEND_OFF_BATCH`` clients at a time, each batch given up to ``SEND_OFF_BATCH_SECONDS`` to close
        before the next: a thousand writers at once would make every scheduling round of the process
        long, and the next Runtime (already serving) would answer its first clients only after them."""
        broadcaster = self._broadcaster
        broadcaster.seq += 1
        text = broadcaster.event_text("shutdown", ShutdownEvent(reason, restart_expected_ms))
        pending = list(broadcaster.connections)
        for start in range(0, len(pending), SEND_OFF_BATCH):
            batch = pending[start : start + SEND_OFF_BATCH]
            broadcaster.deliver(text, "shutdown", batch, droppable=False)
            for connection in batch:
                connection.close(CLOSE_SERVICE_RESTART, "service restart")
            with trio.move_on_after(SEND_OFF_BATCH_SECONDS):
                while any(connection in broadcaster.connections for connection in batch):
                    await self._unregistered.wait()

    async def wait_closed(self, grace: float) -> None:
        """Wait ≤ ``grace`` s for the clients to go, then close the rest without flushing (stuck writers)."""
        with trio.move_on_after(grace):
            if self._broadcaster.connections:
                await self._all_closed.wait()
        for connection in list(self._broadcaster.connections):
            connection.abort(CLOSE_SERVICE_RESTART, "service restart")

"""A per-connection outbound queue bounded in bytes, with the slow-consumer policy.

Frames wait here until the connection's writer task hands them to the socket. When the queued bytes
would pass ``max_bytes`` (the reference's ``maxBufferedBytes``, 1.5 MiB), a droppable event is skipped
for this client and anything else raises ``SlowConsumer``: the connection is then closed 1008. Nothing is
ever buffered without bound.
"""

from __future__ import annotations

from collections import deque

import attrs
import trio


class SlowConsumer(Exception):
    """The client does not read fast enough to take a non-droppable frame."""


@attrs.frozen
class CloseRequest:
    """Queued after the frames that must reach the client before the close (shutdown → 1012)."""

    code: int
    reason: str


@attrs.frozen
class OutboundStatistics:
    queued_frames: int
    queued_bytes: int
    dropped: int
    sent: int


class OutboundQueue:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._items: deque[str | CloseRequest] = deque()
        self._bytes = 0
        self._lot = trio.lowlevel.ParkingLot()
        self.dropped = 0
        self.sent = 0

    def put_nowait(self, text: str, *, droppable: bool = False) -> bool:
        """Queue ``text``; return False if it was dropped. Raises ``SlowConsumer``."""
        size = len(text)
        if self._items and self._bytes + size > self._max_bytes:
            if droppable:
                self.dropped += 1
                return False
            raise SlowConsumer
        self._items.append(text)
        self._bytes += size
        self._lot.unpark()
        return True

    def close_nowait(self, code: int, reason: str) -> None:
        """Queue a close after everything already queued (never refused)."""
        self._items.append(CloseRequest(code, reason))
        self._lot.unpark()

    async def get(self) -> str | CloseRequest:
        while not self._items:
            await self._lot.park()
        item = self._items.popleft()
        if isinstance(item, str):
            self._bytes -= len(item)
            self.sent += 1
        return item

    def statistics(self) -> OutboundStatistics:
        return OutboundStatistics(len(self._items), self._bytes, self.dropped, self.sent)

"""A per-connection outbound queue bounded in bytes, with the slow-consumer policy.

Frames wait here until the connection's writer task hands them to the socket. A client is judged by its
backlog, not by one frame, as the reference judges ``bufferedAmount`` before each send: the frame in
front (the one being written, or the next to be, which the socket takes as Node's would) does not count,
and a new frame is refused only when what waits behind it is already over ``max_bytes`` (the reference's
``maxBufferedBytes``, 1.5 MiB). Then a droppable event is skipped for this client and anything else
raises ``SlowConsumer``: the connection is closed 1008 "slow consumer". So one event larger than the limit
reaches an idle client, and a client that stops reading holds at most the frame in front, ``max_bytes``
and one frame more.
"""

from __future__ import annotations

from collections import deque
from typing import cast

import attrs


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


_EMPTY: deque = deque(maxlen=0)


class OutboundQueue:
    """Frames waiting for the connection's writer (a plain, synchronous queue: the writer task is
    started by the connection when the queue becomes non-empty, and ends when it is empty again)."""

    __slots__ = ("_bytes", "_items", "_max_bytes", "dropped", "in_flight", "sent")

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._items: deque[str | CloseRequest] = _EMPTY  # a real deque on first use: idle clients cost less
        self._bytes = 0
        self.dropped = 0
        self.sent = 0
        # Set by the connection while a write is on the socket: that write is then the frame in front.
        self.in_flight = False

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, text: str, *, droppable: bool = False) -> bool:
        """Queue ``text``; return False if it was dropped. Raises ``SlowConsumer``."""
        size = len(text)
        if self.backlog() > self._max_bytes:
            if droppable:
                self.dropped += 1
                return False
            raise SlowConsumer
        if self._items is _EMPTY:
            self._items = deque()
        self._items.append(text)
        self._bytes += size
        return True

    def backlog(self) -> int:
        """Bytes waiting behind the frame in front (the write in flight, else the first one queued)."""
        items = self._items
        if self.in_flight or not items or not isinstance(items[0], str):
            return self._bytes
        return self._bytes - len(items[0])

    def close_nowait(self, code: int, reason: str) -> None:
        """Queue a close after everything already queued (never refused)."""
        if self._items is _EMPTY:
            self._items = deque()
        self._items.append(CloseRequest(code, reason))

    def pop_texts(self, max_bytes: int = 256 * 1024) -> list[str] | CloseRequest | None:
        """The frames queued up to the next close request (at least one, then up to ``max_bytes``), or
        that close request, or ``None`` when the queue is empty: the writer sends them in one write."""
        items = self._items
        if not items:
            return None
        first = items[0]
        if not isinstance(first, str):
            items.popleft()
            if not items:
                self._items = _EMPTY
            return first
        texts: list[str] = []
        size = 0
        while items and isinstance(items[0], str) and (not texts or size + len(items[0]) <= max_bytes):
            text = cast(str, items.popleft())
            size += len(text)
            texts.append(text)
        if not items:  # drained: the deque's block (over pymalloc's 512 bytes) is not kept for an idle client
            self._items = _EMPTY
        self._bytes -= size
        self.sent += len(texts)
        return texts

    def statistics(self) -> OutboundStatistics:
        return OutboundStatistics(len(self._items), self._bytes, self.dropped, self.sent)

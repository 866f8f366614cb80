"""The health summary: built on demand, cached, refreshed periodically and after connects (coalesced).

Every refresh bumps ``stateVersion.health`` and broadcasts a ``health`` event. Refresh requests that
arrive while one is pending are merged, and refreshes are at least ``min_interval`` apart, so a burst of
connects costs one broadcast, not one per connect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from ..protocol._payloads.system import (
    AgentHealth,
    AgentHeartbeat,
    HealthSummary,
    LinkChannel,
    SessionsHealth,
)
from .broadcast import Broadcaster
from .presence import wall_ms

DEFAULT_AGENT_ID = "main"


class HealthMonitor:
    def __init__(self, broadcaster: Broadcaster, *, sessions_path: Path | None,
                 interval_ms: int, min_interval: float = 1.0) -> None:
        self._broadcaster = broadcaster
        self._sessions_path = str(sessions_path or "")
        self._interval = interval_ms / 1000
        self._min_interval = min_interval
        self._requested = trio.Event()
        self._stale = False  # something in the summary changed (a channel connected or stopped)
        self.summary: HealthSummary | None = None
        self.refreshed_at: float | None = None
        self.providers: list[Callable[[], dict]] = []
        # (channels, channelOrder, channelLabels), set by the Runtime once channels exist.
        self.channels: Callable[[], tuple[dict[str, Any], list[str], dict[str, str]]] | None = None
        self.link_channel: Callable[[], LinkChannel | None] | None = None

    def build(self) -> HealthSummary:
        started = time.perf_counter()
        sessions = SessionsHealth(path=self._sessions_path, count=0, recent=[])
        heartbeat = AgentHeartbeat(enabled=False, every="30m", every_ms=30 * 60 * 1000)
        channels, order, labels = self.channels() if self.channels is not None else ({}, [], {})
        return HealthSummary(
            ok=True, ts=wall_ms(), duration_ms=int((time.perf_counter() - started) * 1000),
            channels=channels, channel_order=order, channel_labels=labels, heartbeat_seconds=0,
            default_agent_id=DEFAULT_AGENT_ID,
            agents=[AgentHealth(agent_id=DEFAULT_AGENT_ID, is_default=True, heartbeat=heartbeat, sessions=sessions)],
            sessions=sessions, link_channel=self.link_channel() if self.link_channel is not None else None,
        )

    def refresh(self) -> HealthSummary:
        """Rebuild now, bump the health version and broadcast the ``health`` event."""
        self.summary = self.build()
        self._stale = False
        self.refreshed_at = trio.current_time()
        self._broadcaster.health_version += 1
        self._broadcaster.broadcast("health", self.summary, droppable=False, with_state_version=True)
        return self.summary

    def current(self, *, probe: bool = False) -> HealthSummary:
        """The cached summary, refreshed first when asked to probe or when older than the interval."""
        stale = self.refreshed_at is None or trio.current_time() - self.refreshed_at >= self._interval
        if probe or stale or self._stale or self.summary is None:
            return self.refresh()
        return self.summary

    def snapshot(self) -> HealthSummary | None:
        """For ``hello-ok``: the cached summary, rebuilt first only if what it reports has changed (a
        connect alone does not rebuild it, so a burst of connects costs no extra broadcasts)."""
        return self.refresh() if self._stale or self.summary is None else self.summary

    def request_refresh(self) -> None:
        self._requested.set()

    def mark_stale(self) -> None:
        """What the summary reports has changed: the next read rebuilds it, and so does the refresher."""
        self._stale = True
        self._requested.set()

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Refresh at start, every interval, and (coalesced) when requested."""
        self.refresh()
        task_status.started()
        while True:
            with trio.move_on_after(self._interval):
                await self._requested.wait()
            self._requested = trio.Event()
            self.refresh()
            await trio.sleep(self._min_interval)

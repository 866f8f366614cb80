"""The health summary: built on demand, cached, refreshed periodically and after connects (coalesced).

Every refresh bumps ``stateVersion.health`` and broadcasts a ``health`` event. Refresh requests that
arrive while one is pending are merged, and refreshes are at least ``min_interval`` apart (longer with
many clients connected: ``HEALTH_DELIVERIES_PER_SECOND``), so a burst of connects costs one broadcast, not
one per connect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from .._util import wall_ms
from ..agents.heartbeat import parse_duration
from ..agents.sessions import DEFAULT_AGENT_ID, SessionStore, now_ms
from ..config.model import Config
from ..protocol import AgentHealth, AgentHeartbeat, HealthSummary, LinkChannel, RecentSession, SessionsHealth
from .broadcast import Broadcaster

if TYPE_CHECKING:
    from ..agents.runtime import AgentRuntime

__all__ = ["DEFAULT_AGENT_ID", "HealthMonitor", "agent_heartbeat", "counted_sessions", "session_summary"]

RECENT_IN_HEALTH = 5
# Requested refreshes (one per connect) are spread so that their events reach at most this many clients a
# second: 1,000 connected, one a second; 10,000, one every 5 s.
HEALTH_DELIVERIES_PER_SECOND = 2000
_NOT_CONVERSATIONS = ("global", "unknown")


def updated_at(entry: Any) -> int | None:
    value = entry.get("updatedAt") if isinstance(entry, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def counted_sessions(store: SessionStore) -> list[tuple[str, dict[str, Any]]]:
    """A store's conversations (not ``global``/``unknown``), most recently updated first."""
    rows = [(key, entry) for key, entry in store.entries.items() if key not in _NOT_CONVERSATIONS]
    rows.sort(key=lambda row: updated_at(row[1]) or 0, reverse=True)
    return rows


def session_summary(store: SessionStore, now: int, limit: int = RECENT_IN_HEALTH) -> SessionsHealth:
    """``{path, count, recent:[{key, updatedAt, age}]}`` of one agent's store (the original's health)."""
    rows = counted_sessions(store)
    recent = []
    for key, entry in rows[:limit]:
        updated = updated_at(entry)
        recent.append(RecentSession(key=key, updated_at=updated,
                                    age=max(0, now - updated) if updated is not None else None))
    return SessionsHealth(path=str(store.path), count=len(rows), recent=recent)


def agent_heartbeat(config: Config, agent_id: str, default_agent_id: str) -> AgentHeartbeat:
    """The heartbeat of one agent: the runner beats on the default agent's main session only, every
    ``agents.defaults.heartbeat.every``; other agents (and a zero or unparsable interval) are disabled."""
    heartbeat = config.agents.defaults.heartbeat
    try:
        seconds = parse_duration(heartbeat.every)
    except ValueError:
        seconds = 0
    if agent_id != default_agent_id or seconds <= 0:
        return AgentHeartbeat(enabled=False, every="disabled", every_ms=None)
    return AgentHeartbeat(enabled=True, every=heartbeat.every, every_ms=int(seconds * 1000),
                          ack_max_chars=heartbeat.ack_max_chars, prompt=heartbeat.prompt,
                          target=heartbeat.target)


class HealthMonitor:
    def __init__(self, broadcaster: Broadcaster, *, agents: AgentRuntime | None,
                 interval_ms: int, min_interval: float = 1.0) -> None:
        self._broadcaster = broadcaster
        self.agents = agents  # the configured agents and their session stores
        self._interval = interval_ms / 1000
        self._min_interval = min_interval
        self._requested = trio.Event()
        self._stale = False  # something in the summary changed (a channel connected or stopped)
        self._stale_marked = trio.Event()  # set (and replaced) by each ``mark_stale``
        self.summary: HealthSummary | None = None
        self.refreshed_at: float | None = None
        self.providers: list[Callable[[], dict]] = []
        # (channels, channelOrder, channelLabels), set by the Runtime once channels exist.
        self.channels: Callable[[], tuple[dict[str, Any], list[str], dict[str, str]]] | None = None
        self.link_channel: Callable[[], LinkChannel | None] | None = None

    async def load(self) -> None:
        """Read the session stores of the configured agents (each once; later changes go through them)."""
        if self.agents is not None:
            await self.agents.load_stores()

    def _agents(self) -> tuple[str, list[AgentHealth]]:
        if self.agents is None:
            heartbeat = AgentHeartbeat(enabled=False, every="disabled", every_ms=None)
            sessions = SessionsHealth(path="", count=0, recent=[])
            return DEFAULT_AGENT_ID, [AgentHealth(agent_id=DEFAULT_AGENT_ID, is_default=True, heartbeat=heartbeat,
                                                  sessions=sessions)]
        default, config, now = self.agents.default_agent_id(), self.agents.config, now_ms()
        return default, [
            AgentHealth(agent_id=agent_id, is_default=agent_id == default, name=self.agents.agent_name(agent_id),
                        heartbeat=agent_heartbeat(config, agent_id, default),
                        sessions=session_summary(self.agents.store(agent_id), now))
            for agent_id in self.agents.agent_ids()]

    def build(self) -> HealthSummary:
        started = time.perf_counter()
        default, agents = self._agents()
        chosen = next(agent for agent in agents if agent.is_default)
        channels, order, labels = self.channels() if self.channels is not None else ({}, [], {})
        every_ms = chosen.heartbeat.every_ms if chosen.heartbeat.enabled else None
        return HealthSummary(
            ok=True, ts=wall_ms(), duration_ms=int((time.perf_counter() - started) * 1000),
            channels=channels, channel_order=order, channel_labels=labels,
            heartbeat_seconds=every_ms // 1000 if every_ms else 0,
            default_agent_id=default, agents=agents, sessions=chosen.sessions,
            link_channel=self.link_channel() if self.link_channel is not None else None,
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
        self._stale_marked.set()
        self._stale_marked = trio.Event()

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Refresh at start, every interval, and (coalesced) when requested.

        Requests are merged over a span of at least ``min_interval``, longer when the last event went to
        many clients (``HEALTH_DELIVERIES_PER_SECOND``): each connect asks for one, and with 10,000
        clients held a refresh a second was 10,000 socket writes a second on the gateway (and as many
        wake-ups in the clients), most of the cost of opening connections at that count. A change of
        what the summary reports (``mark_stale``) waits no longer than ``min_interval``."""
        await self.load()
        self.refresh()
        task_status.started()
        while True:
            with trio.move_on_after(self._interval):
                await self._requested.wait()
            self._requested = trio.Event()
            await self.load()
            self.refresh()
            reached = len(self._broadcaster.connections)
            span = max(self._min_interval, reached / HEALTH_DELIVERIES_PER_SECOND)
            await trio.sleep(self._min_interval)
            if not self._stale:  # requests made meanwhile stay set: served when the span is over
                with trio.move_on_after(span - self._min_interval):
                    await self._stale_marked.wait()

"""What lives for the whole process, across in-process restarts (``ProcessState``).

The Gateway creates one ``ProcessState`` and hands it to every Runtime it builds: the counters ``status``
reports (``GatewayStats``), the queued system events (``system-event``, hooks, cron main-session jobs,
node exec events, the restart note), the last heartbeat and whether heartbeats are on. A Runtime is
rebuilt on restart; this is not, so a counter or a queued event survives a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import trio

from .._util import wall_ms
from ..protocol import HeartbeatEvent

__all__ = ["MAX_QUEUED_SYSTEM_EVENTS", "GatewayStats", "ProcessState"]

MAX_QUEUED_SYSTEM_EVENTS = 20  # the oldest are dropped past this


@attrs.define
class GatewayStats:
    """Counters since the process started (they survive in-process restarts), reported by ``status``."""

    handler_errors: int = 0
    protocol_errors: int = 0
    auth_failures: int = 0
    slow_consumers: int = 0
    handshakes_rejected: int = 0
    restarts: int = 0
    reloads: int = 0
    reload_failures: int = 0
    # The last reload of the config file (wall ms, decision) and, while the file does not load, its error.
    last_reload_at_ms: int | None = None
    last_reload: str | None = None
    reload_error: str | None = None
    reload_error_at_ms: int | None = None

    def reload_failed(self, problems: list[str]) -> None:
        self.reload_failures += 1
        text = "; ".join(problems)
        self.reload_error = text if len(text) <= 500 else text[:499] + "…"
        self.reload_error_at_ms = wall_ms()

    def reloaded(self, decision: str) -> None:
        self.reload_error = self.reload_error_at_ms = None
        self.last_reload_at_ms, self.last_reload = wall_ms(), decision

    def handshake_rejected(self, outcome: Any) -> None:
        self.handshakes_rejected += 1
        if outcome.close_reason.startswith("unauthorized"):
            self.auth_failures += 1
        else:
            self.protocol_errors += 1


@attrs.define(eq=False)
class ProcessState:
    version: str
    env: Mapping[str, str]
    started_at: float = attrs.field(factory=trio.current_time)
    stats: GatewayStats = attrs.Factory(GatewayStats)
    system_events: list[str] = attrs.Factory(list)
    last_heartbeat: HeartbeatEvent | None = None
    heartbeats_enabled: bool = True

    def uptime_ms(self) -> int:
        return int((trio.current_time() - self.started_at) * 1000)

    def system_event(self, text: str) -> None:
        """Queue ``text`` (``status`` lists the queue); only the newest ``MAX_QUEUED_SYSTEM_EVENTS`` are kept."""
        self.system_events.append(text)
        del self.system_events[:-MAX_QUEUED_SYSTEM_EVENTS]

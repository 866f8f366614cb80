"""``health``, ``status``, ``system-presence``, ``system-event``, ``last-heartbeat``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ...protocol import PresenceEntry
from ...protocol._payloads.system import (
    EmptyParams,
    HealthParams,
    HealthSummary,
    HeartbeatAgentStatus,
    HeartbeatEvent,
    HeartbeatStatus,
    OkResult,
    SessionModelDefaults,
    SessionsStatus,
    StatusSummary,
    SystemEventParams,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

MAX_QUEUED_SYSTEM_EVENTS = 20


async def health(runtime: Runtime, connection: Connection, params: HealthParams) -> HealthSummary:
    return runtime.health.current(probe=bool(params.probe))


async def status(runtime: Runtime, connection: Connection, params: EmptyParams) -> StatusSummary:
    sessions_path = str(runtime.sessions_path or "")
    return StatusSummary(
        heartbeat=HeartbeatStatus(
            default_agent_id="main",
            agents=[HeartbeatAgentStatus(agent_id="main", enabled=False, every="30m", every_ms=30 * 60 * 1000)],
        ),
        channel_summary=runtime.channels.summary_lines(),
        queued_system_events=list(runtime.gateway.system_events),
        sessions=SessionsStatus(paths=[sessions_path] if sessions_path else [], count=0,
                                defaults=SessionModelDefaults(), recent=[], by_agent=[]),
        gateway=runtime.gateway_status(),
        lanes=runtime.lane_statuses(),
        link_channel=runtime.channels.link_channel(),
    )


async def system_presence(runtime: Runtime, connection: Connection, params: EmptyParams) -> list[PresenceEntry]:
    return runtime.presence.entries()


async def system_event(runtime: Runtime, connection: Connection, params: SystemEventParams) -> OkResult:
    """Record a presence update from a client (nodes and apps report themselves this way)."""
    key = params.device_id or params.instance_id or params.host or connection.conn_id
    fields = attrs.asdict(params, recurse=False)
    changes = {name: value for name, value in fields.items() if value is not None}
    text = changes.pop("text")
    runtime.presence.merge(key, text=text, **changes)
    runtime.gateway.system_events.append(text)
    del runtime.gateway.system_events[:-MAX_QUEUED_SYSTEM_EVENTS]
    runtime.broadcast_presence()
    return OkResult(ok=True)


async def last_heartbeat(runtime: Runtime, connection: Connection, params: EmptyParams) -> HeartbeatEvent | None:
    return runtime.gateway.last_heartbeat

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
    from ..app import Gateway
    from ..connection import Connection

MAX_QUEUED_SYSTEM_EVENTS = 20


async def health(gateway: Gateway, connection: Connection, params: HealthParams) -> HealthSummary:
    return gateway.health.current(probe=bool(params.probe))


async def status(gateway: Gateway, connection: Connection, params: EmptyParams) -> StatusSummary:
    sessions_path = str(gateway.sessions_path or "")
    return StatusSummary(
        heartbeat=HeartbeatStatus(
            default_agent_id="main",
            agents=[HeartbeatAgentStatus(agent_id="main", enabled=False, every="30m", every_ms=30 * 60 * 1000)],
        ),
        channel_summary=[],
        queued_system_events=list(gateway.system_events),
        sessions=SessionsStatus(paths=[sessions_path] if sessions_path else [], count=0,
                                defaults=SessionModelDefaults(), recent=[], by_agent=[]),
        gateway=gateway.gateway_status(),
        lanes=gateway.lane_statuses(),
    )


async def system_presence(gateway: Gateway, connection: Connection, params: EmptyParams) -> list[PresenceEntry]:
    return gateway.presence.entries()


async def system_event(gateway: Gateway, connection: Connection, params: SystemEventParams) -> OkResult:
    """Record a presence update from a client (nodes and apps report themselves this way)."""
    key = params.device_id or params.instance_id or params.host or connection.conn_id
    fields = attrs.asdict(params, recurse=False)
    changes = {name: value for name, value in fields.items() if value is not None}
    text = changes.pop("text")
    gateway.presence.merge(key, text=text, **changes)
    gateway.system_events.append(text)
    del gateway.system_events[:-MAX_QUEUED_SYSTEM_EVENTS]
    gateway.broadcast_presence()
    return OkResult(ok=True)


async def last_heartbeat(gateway: Gateway, connection: Connection, params: EmptyParams) -> HeartbeatEvent | None:
    return gateway.last_heartbeat

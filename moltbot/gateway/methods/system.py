"""``health``, ``status``, ``system-presence``, ``system-event``, ``last-heartbeat``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ...agents.models import model_reference
from ...agents.sessions import now_ms
from ...protocol import (
    AgentSessionsStatus,
    EmptyParams,
    HealthParams,
    HeartbeatAgentStatus,
    HeartbeatEvent,
    HeartbeatStatus,
    OkResult,
    PresenceEntry,
    SessionModelDefaults,
    SessionsStatus,
    StatusSummary,
    SystemEventParams,
)
from ..connection import Encoded, encoded
from ..health import agent_heartbeat, counted_sessions, updated_at

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

RECENT_IN_STATUS = 10
# SessionEntry fields a status row repeats (token usage and model, as the original's SessionStatus).
_STATUS_FIELDS = ("sessionId", "model", "modelProvider", "contextTokens", "inputTokens", "outputTokens",
                  "totalTokens", "thinkingLevel", "verboseLevel", "label", "displayName", "channel")


async def health(runtime: Runtime, connection: Connection, params: HealthParams) -> Encoded:
    """The cached summary (``HealthSummary``), encoded once while it stays the same object."""
    await runtime.health.load()
    return encoded(runtime.health.current(probe=bool(params.probe)))


def _session_row(agent_id: str, key: str, entry: dict[str, Any], now: int) -> dict[str, Any]:
    kind = key if key in ("global", "unknown") else "group" if ":group:" in key or ":channel:" in key else "direct"
    updated = updated_at(entry)
    row: dict[str, Any] = {"agentId": agent_id, "key": key, "kind": kind, "updatedAt": updated,
                           "age": max(0, now - updated) if updated is not None else None}
    row.update({field: entry[field] for field in _STATUS_FIELDS if field in entry})
    return row


async def status(runtime: Runtime, connection: Connection, params: EmptyParams) -> StatusSummary:
    agents = runtime.agents
    await agents.load_stores()
    default, now = agents.default_agent_id(), now_ms()
    by_agent, every_row = [], []
    for agent_id in agents.agent_ids():
        store = agents.store(agent_id)
        rows = [_session_row(agent_id, key, entry, now) for key, entry in counted_sessions(store)]
        by_agent.append(AgentSessionsStatus(agent_id=agent_id, path=str(store.path), count=len(rows),
                                            recent=rows[:RECENT_IN_STATUS]))
        every_row += rows
    every_row.sort(key=lambda row: row["updatedAt"] or 0, reverse=True)
    heartbeats = []
    for agent_id in agents.agent_ids():
        beat = agent_heartbeat(runtime.config, agent_id, default)
        heartbeats.append(HeartbeatAgentStatus(agent_id=agent_id, enabled=beat.enabled, every=beat.every,
                                               every_ms=beat.every_ms))
    return StatusSummary(
        heartbeat=HeartbeatStatus(default_agent_id=default, agents=heartbeats),
        channel_summary=runtime.channels.summary_lines(),
        queued_system_events=list(runtime.state.system_events),
        sessions=SessionsStatus(paths=[entry.path for entry in by_agent], count=len(every_row),
                                defaults=SessionModelDefaults(
                                    model=model_reference(runtime.config.agents.defaults.model)),
                                recent=every_row[:RECENT_IN_STATUS], by_agent=by_agent),
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
    runtime.state.system_event(text)
    runtime.presence_tracker.announce()
    return OkResult(ok=True)


async def last_heartbeat(runtime: Runtime, connection: Connection, params: EmptyParams) -> HeartbeatEvent | None:
    return runtime.state.last_heartbeat

"""``health``, ``status``, ``system-presence``, ``system-event``, ``last-heartbeat`` and their events."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._frames import NonEmptyStr, NonNegativeInt
from .presence import PresenceEntry


@attrs.frozen
class EmptyParams:
    """Params of a method that takes none: ``{}`` or absent; any key is rejected."""


@attrs.frozen
class OkResult:
    ok: Literal[True]


@attrs.frozen
class HealthParams:
    probe: bool | None = None


@attrs.frozen
class RecentSession:
    key: NonEmptyStr
    updated_at: NonNegativeInt | None = None
    age: NonNegativeInt | None = None


@attrs.frozen
class SessionsHealth:
    path: str
    count: NonNegativeInt
    recent: list[RecentSession]


@attrs.frozen
class AgentHeartbeat:
    enabled: bool
    every: str
    every_ms: NonNegativeInt | None = None
    # The original also reports these (its health payload); optional here.
    ack_max_chars: NonNegativeInt | None = None
    prompt: str | None = None
    target: str | None = None


@attrs.frozen
class AgentHealth:
    agent_id: NonEmptyStr
    is_default: bool
    heartbeat: AgentHeartbeat
    sessions: SessionsHealth
    name: NonEmptyStr | None = None


@attrs.frozen
class LinkChannel:
    """The channel a device is linked to (the first whose summary reports ``linked``: WhatsApp Web)."""

    id: NonEmptyStr
    label: str
    linked: bool
    auth_age_ms: NonNegativeInt | None  # age of the stored credentials; null when there are none


@attrs.frozen
class HealthSummary:
    """The ``health`` result and the ``health`` event payload."""

    ok: bool
    ts: NonNegativeInt
    duration_ms: NonNegativeInt
    channels: dict[str, Any]
    channel_order: list[str]
    channel_labels: dict[str, str]
    heartbeat_seconds: NonNegativeInt
    default_agent_id: NonEmptyStr
    agents: list[AgentHealth]
    sessions: SessionsHealth
    # Ours (issue 6: health reports the link channel, as the original's ``status`` does); optional.
    link_channel: LinkChannel | None = None


@attrs.frozen
class HeartbeatAgentStatus:
    agent_id: NonEmptyStr
    enabled: bool
    every: str
    every_ms: NonNegativeInt | None = None


@attrs.frozen
class HeartbeatStatus:
    default_agent_id: NonEmptyStr
    agents: list[HeartbeatAgentStatus]


@attrs.frozen
class SessionModelDefaults:
    model: str | None = None
    context_tokens: NonNegativeInt | None = None


@attrs.frozen
class AgentSessionsStatus:
    agent_id: NonEmptyStr
    path: str
    count: NonNegativeInt
    recent: list[Any]


@attrs.frozen
class SessionsStatus:
    paths: list[str]
    count: NonNegativeInt
    defaults: SessionModelDefaults
    recent: list[Any]
    by_agent: list[AgentSessionsStatus]


@attrs.frozen
class LaneStatus:
    """One agent run lane: how much is waiting, running, done and failed since start."""

    lane: NonEmptyStr
    queued: NonNegativeInt
    active: NonNegativeInt
    max_concurrent: NonNegativeInt
    completed: NonNegativeInt
    errors: NonNegativeInt


@attrs.frozen
class ErrorCounts:
    """Errors since the gateway started, by where they arose."""

    handler: NonNegativeInt
    protocol: NonNegativeInt
    auth: NonNegativeInt
    slow_consumer: NonNegativeInt


@attrs.frozen
class ConfigReloadStatus:
    """The config file as the running gateway read it last: its last reload, or the error while it does not load.

    ``lastReload`` is the reload's decision (hot, restart, nothing, …); while ``error`` is set the gateway
    runs on its last good config."""

    path: str
    reloads: NonNegativeInt
    last_reload_at_ms: NonNegativeInt | None = None
    last_reload: str | None = None
    error: str | None = None
    error_at_ms: NonNegativeInt | None = None


@attrs.frozen
class GatewayStatus:
    version: NonEmptyStr
    pid: NonNegativeInt
    uptime_ms: NonNegativeInt
    connections: NonNegativeInt
    errors: ErrorCounts
    config: ConfigReloadStatus | None = None


@attrs.frozen
class StatusSummary:
    """The ``status`` result: the reference's StatusSummary plus ``gateway`` and ``lanes``."""

    heartbeat: HeartbeatStatus
    channel_summary: list[str]
    queued_system_events: list[str]
    sessions: SessionsStatus
    link_channel: LinkChannel | None = None
    # Ours (the original's StatusSummary has neither): optional so the spec describes both gateways.
    gateway: GatewayStatus | None = None
    lanes: list[LaneStatus] | None = None


@attrs.frozen
class SystemEventParams:
    text: NonEmptyStr
    device_id: NonEmptyStr | None = None
    instance_id: NonEmptyStr | None = None
    host: NonEmptyStr | None = None
    ip: NonEmptyStr | None = None
    mode: NonEmptyStr | None = None
    version: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    last_input_seconds: NonNegativeInt | None = None
    reason: NonEmptyStr | None = None
    roles: list[NonEmptyStr] | None = None
    scopes: list[NonEmptyStr] | None = None
    tags: list[NonEmptyStr] | None = None


HeartbeatOutcome = Literal["sent", "ok-empty", "ok-token", "skipped", "failed"]


@attrs.frozen
class HeartbeatEvent:
    ts: NonNegativeInt
    status: HeartbeatOutcome
    to: str | None = None
    preview: str | None = None
    duration_ms: NonNegativeInt | None = None
    has_media: bool | None = None
    reason: str | None = None
    channel: str | None = None
    silent: bool | None = None
    indicator_type: Literal["ok", "alert", "error"] | None = None


@attrs.frozen
class TickEvent:
    ts: NonNegativeInt


@attrs.frozen
class PresenceEvent:
    presence: list[PresenceEntry]


@attrs.frozen
class ShutdownEvent:
    """``restartExpectedMs`` is always on the wire: ``null`` for a stop, as the original sends."""

    reason: NonEmptyStr
    restart_expected_ms: NonNegativeInt | None

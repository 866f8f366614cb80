"""The handshake payloads: ``connect.challenge``, ``connect`` params and ``hello-ok``."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._frames import UNSET, NonEmptyStr, NonNegativeInt, PositiveInt, StateVersion
from .presence import PresenceEntry

# Every client id of the three families that reach this gateway: today's OpenClaw (protocol 4, its
# ``GATEWAY_CLIENT_IDS``), ours (``moltbot-*``) and the January original's (``clawdbot-*``), plus the shared
# generic ones. OpenClaw itself refuses the ``moltbot-*``/``clawdbot-*`` ids; we accept all of them.
ClientId = Literal[
    "webchat-ui", "webchat", "cli", "gateway-client", "node-host", "test", "fingerprint",
    "openclaw-control-ui", "openclaw-browser-copilot", "openclaw-tui", "openclaw-macos", "openclaw-linux",
    "openclaw-ios", "openclaw-watchos", "openclaw-android", "openclaw-worker", "openclaw-probe",
    "moltbot-control-ui", "moltbot-macos", "moltbot-ios", "moltbot-android", "moltbot-probe",
    "clawdbot-control-ui", "clawdbot-macos", "clawdbot-ios", "clawdbot-android", "clawdbot-probe",
]
ClientMode = Literal["webchat", "cli", "ui", "backend", "node", "worker", "probe", "test"]


@attrs.frozen
class ConnectChallenge:
    """Sent on socket open, before any client frame: the nonce a device signs."""

    nonce: NonEmptyStr
    ts: NonNegativeInt


@attrs.frozen
class ClientInfo:
    id: ClientId
    version: NonEmptyStr
    platform: NonEmptyStr
    mode: ClientMode
    display_name: NonEmptyStr | None = None
    build_id: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    time_zone: NonEmptyStr | None = None
    instance_id: NonEmptyStr | None = None


@attrs.frozen
class DeviceIdentity:
    """A device's Ed25519 identity, signed over the challenge nonce (verified with the devices issue)."""

    id: NonEmptyStr
    public_key: NonEmptyStr
    signature: NonEmptyStr
    signed_at: NonNegativeInt
    nonce: NonEmptyStr | None = None


@attrs.frozen
class ConnectAuth:
    """Shared secrets: kept out of ``repr`` so they never reach a log line."""

    token: str | None = attrs.field(default=None, repr=False)
    bootstrap_token: str | None = attrs.field(default=None, repr=False)
    device_token: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    approval_runtime_token: str | None = attrs.field(default=None, repr=False)
    agent_runtime_identity_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ModelCatalogRequest:
    """Protocol 4 (OpenClaw 2026.9.6, not in its 2026.9.1 schema): which model catalog to snapshot.

    Sent only after the challenge advertised ``model-catalog-snapshot``; one of the two shapes
    ``{agentId?, sessionKey?}`` or ``{agentId?, shortId, slugHint?}``.
    """

    agent_id: NonEmptyStr | None = None
    session_key: NonEmptyStr | None = None
    short_id: NonEmptyStr | None = None
    slug_hint: NonEmptyStr | None = None


@attrs.frozen
class WorkerRuns:
    """Protocol 4 worker/node metadata (``workerRuns``); accepted and recorded, no worker runs here."""

    bundle_hash: NonEmptyStr
    openclaw_version: NonEmptyStr
    protocol_features: list[NonEmptyStr]
    bundle_prewarm: PositiveInt | None = None


@attrs.frozen
class ConnectParams:
    min_protocol: PositiveInt
    max_protocol: PositiveInt
    client: ClientInfo
    caps: list[NonEmptyStr] | None = None
    commands: list[NonEmptyStr] | None = None
    computer_use: Any = UNSET
    worker_runs: WorkerRuns | None = None
    permissions: dict[NonEmptyStr, bool] | None = None
    path_env: str | None = None
    role: NonEmptyStr | None = None
    scopes: list[NonEmptyStr] | None = None
    device: DeviceIdentity | None = None
    auth: ConnectAuth | None = None
    locale: str | None = None
    user_agent: str | None = None
    model_catalog: ModelCatalogRequest | None = None


@attrs.frozen
class ServerInfo:
    version: NonEmptyStr
    conn_id: NonEmptyStr
    commit: NonEmptyStr | None = None
    host: NonEmptyStr | None = None


@attrs.frozen
class Features:
    methods: list[NonEmptyStr]
    events: list[NonEmptyStr]


@attrs.frozen
class SessionDefaults:
    default_agent_id: NonEmptyStr
    main_key: NonEmptyStr
    main_session_key: NonEmptyStr
    scope: NonEmptyStr | None = None


@attrs.frozen
class Snapshot:
    presence: list[PresenceEntry]
    health: Any
    state_version: StateVersion
    uptime_ms: NonNegativeInt
    config_path: NonEmptyStr | None = None
    state_dir: NonEmptyStr | None = None
    session_defaults: SessionDefaults | None = None


@attrs.frozen
class HelloAuth:
    device_token: NonEmptyStr
    role: NonEmptyStr
    scopes: list[NonEmptyStr]
    issued_at_ms: NonNegativeInt | None = None


@attrs.frozen
class Policy:
    max_payload: PositiveInt
    max_buffered_bytes: PositiveInt
    tick_interval_ms: PositiveInt


@attrs.frozen
class HelloOk:
    """The payload of the successful ``connect`` response."""

    type: Literal["hello-ok"]
    protocol: PositiveInt
    server: ServerInfo
    features: Features
    snapshot: Snapshot
    policy: Policy
    canvas_host_url: NonEmptyStr | None = None
    auth: HelloAuth | None = None

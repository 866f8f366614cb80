"""The handshake payloads: ``connect.challenge``, ``connect`` params and ``hello-ok``.

One set of types serves every version. The fields protocol 4 added (``ConnectChallenge.capabilities``,
``ServerInfo.buildId/bootId``, ``Features.capabilities``, ``HelloAuth.method``, ``Policy.attachments``,
``Snapshot.authMode``/``appliedConfigHash``, ``HelloOk.pluginSurfaceUrls``) are optional, so a protocol 3 or
7 ``hello-ok`` (which sets none of them) is the same JSON as before 4 existed; ``gateway.hello.hello_ok``
decides per version which ones are filled, and which of ours (``server.commit``/``host``,
``canvasHostUrl``) are left out at 4, whose ``HelloOk`` is closed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import attrs
from annotated_types import MaxLen, MinLen

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
    """Sent on socket open, before any client frame: the nonce a device signs, and (protocol 4) the
    connect-time capabilities the client may use (always written by this gateway, often ``[]``)."""

    nonce: NonEmptyStr
    ts: NonNegativeInt
    capabilities: list[NonEmptyStr] | None = None


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


BuildText = Annotated[str, MinLen(1), MaxLen(96)]


@attrs.frozen
class ServerInfo:
    """``commit``/``host`` are ours (protocol 3 and 7); ``build_id``/``boot_id`` protocol 4's (``bootId``
    changes with every process start, so a client can tell a restart from a reconnect)."""

    version: NonEmptyStr
    conn_id: NonEmptyStr
    commit: NonEmptyStr | None = None
    host: NonEmptyStr | None = None
    build_id: BuildText | None = None
    boot_id: BuildText | None = None
    control_ui_build_source: Literal["bundled", "configured"] | None = None


@attrs.frozen
class Features:
    methods: list[NonEmptyStr]
    events: list[NonEmptyStr]
    capabilities: list[NonEmptyStr] | None = None


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
    auth_mode: Literal["none", "token", "password", "trusted-proxy"] | None = None
    applied_config_hash: NonEmptyStr | None = None


AuthMethod = Literal["none", "token", "password", "tailscale", "device-token", "bootstrap-token", "trusted-proxy"]


@attrs.frozen
class HelloAuth:
    """At protocol 3 and 7: present only for a paired device, with its token. At 4: always present, with
    the connection's effective ``scopes`` and ``method`` (which OpenClaw 2026.9.6 sends beyond its 2026.9.1
    schema)."""

    role: NonEmptyStr
    scopes: list[NonEmptyStr]
    device_token: NonEmptyStr | None = None
    issued_at_ms: NonNegativeInt | None = None
    method: AuthMethod | None = None


@attrs.frozen
class AttachmentLimits:
    """Protocol 4's per-attachment decoded ceilings (``policy.attachments``)."""

    max_bytes: PositiveInt
    max_image_bytes: PositiveInt


@attrs.frozen
class Policy:
    max_payload: PositiveInt
    max_buffered_bytes: PositiveInt
    tick_interval_ms: PositiveInt
    attachments: AttachmentLimits | None = None


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
    plugin_surface_urls: dict[str, NonEmptyStr] | None = None

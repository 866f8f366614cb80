"""The typed config tree (frozen attrs; camelCase keys on disk) with the reference's defaults.

Every ``gateway.*`` key the original knows is typed, plus the sections later subsystems read. Keys the tree
does not know are kept (``Config.raw`` holds the whole parsed file) and reported as warnings, so a file
written for the original gateway loads unchanged and is never rewritten without them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import attrs

from .ports import DEFAULT_GATEWAY_PORT as DEFAULT_PORT

# The tools section lives in tools.py; re-exported here with the rest of the tree.
from .tools import SandboxConfig as SandboxConfig
from .tools import ToolPolicyConfig as ToolPolicyConfig
from .tools import ToolsConfig as ToolsConfig

BindMode = Literal["loopback", "lan", "tailnet", "auto", "custom"]
ReloadMode = Literal["off", "restart", "hot", "hybrid"]
DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
GroupPolicy = Literal["open", "disabled", "allowlist"]


# --- gateway ----------------------------------------------------------------------------------------

@attrs.frozen
class AuthRateLimit:
    """Failed connects allowed per client address (and browser Origin) and credential class within
    ``windowMs`` before ``lockoutMs`` of refusals; loopback clients without an Origin are exempt unless
    ``exemptLoopback`` is false (OpenClaw's defaults: 10 per 60 s, 5 min lockout)."""

    max_failures: int = 10
    window_ms: int = 60_000
    lockout_ms: int = 300_000
    exempt_loopback: bool = True


@attrs.frozen
class AuthConfig:
    mode: Literal["token", "password"] | None = None
    token: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    allow_tailscale: bool | None = None
    rate_limit: AuthRateLimit = AuthRateLimit()


@attrs.frozen
class ControlUiConfig:
    enabled: bool = True
    base_path: str = ""
    # Browser origins (``scheme://host[:port]``) besides the gateway's own that may open the WebSocket.
    allowed_origins: list[str] = attrs.field(factory=list)
    allow_insecure_auth: bool = False
    dangerously_disable_device_auth: bool = False
    # A folder holding another Control UI build to serve instead of ours (OpenClaw's ``dist/control-ui``).
    root: str | None = None


@attrs.frozen
class EndpointToggle:
    enabled: bool = False


@attrs.frozen
class ResponsesFilesPdf:
    max_pages: int = 4
    max_pixels: int = 4_000_000
    min_text_chars: int = 200


@attrs.frozen
class ResponsesFiles:
    allow_url: bool = True
    allowed_mimes: list[str] | None = None
    max_bytes: int = 5 * 1024 * 1024
    max_chars: int = 200_000
    max_redirects: int = 3
    timeout_ms: int = 10_000
    pdf: ResponsesFilesPdf = ResponsesFilesPdf()


@attrs.frozen
class ResponsesImages:
    allow_url: bool = True
    allowed_mimes: list[str] | None = None
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    timeout_ms: int = 10_000


@attrs.frozen
class ResponsesEndpoint:
    enabled: bool = False
    max_body_bytes: int = 20 * 1024 * 1024
    files: ResponsesFiles = ResponsesFiles()
    images: ResponsesImages = ResponsesImages()


@attrs.frozen
class HttpEndpoints:
    chat_completions: EndpointToggle = EndpointToggle()
    responses: ResponsesEndpoint = ResponsesEndpoint()


@attrs.frozen
class HttpConfig:
    endpoints: HttpEndpoints = HttpEndpoints()


@attrs.frozen
class GatewayToolsConfig:
    """``gateway.tools`` (today's OpenClaw): the deny list of ``POST /tools/invoke``. ``allow`` takes tools off
    the default deny list, ``deny`` adds to it; neither bypasses the ``tools.allow``/``tools.deny`` policy."""

    allow: list[str] = attrs.field(factory=list)
    deny: list[str] = attrs.field(factory=list)


@attrs.frozen
class TailscaleConfig:
    """``gateway.tailscale``: Serve/Funnel run for the gateway port at start (``mode``), undone at exit
    (``resetOnExit``); ``socket`` (ours) is tailscaled's LocalAPI socket, used to verify Tailscale
    identities and find the tailnet address (default: the platform's, ``/var/run/tailscale/tailscaled.sock``
    on Linux)."""

    mode: Literal["off", "serve", "funnel"] = "off"
    reset_on_exit: bool = False
    socket: str | None = None


@attrs.frozen
class RemoteConfig:
    url: str | None = None
    transport: Literal["ssh", "direct"] | None = None
    token: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    tls_fingerprint: str | None = None
    ssh_target: str | None = None
    ssh_identity: str | None = None


@attrs.frozen
class ReloadConfig:
    mode: ReloadMode = "hybrid"
    debounce_ms: int = 300


@attrs.frozen
class TlsConfig:
    enabled: bool = False
    auto_generate: bool = True
    cert_path: str | None = None
    key_path: str | None = None
    ca_path: str | None = None


@attrs.frozen
class BrowserNodesConfig:
    mode: Literal["auto", "manual", "off"] = "auto"
    node: str | None = None


@attrs.frozen
class NodesConfig:
    browser: BrowserNodesConfig = BrowserNodesConfig()
    allow_commands: list[str] = attrs.field(factory=list)
    deny_commands: list[str] = attrs.field(factory=list)


@attrs.frozen
class GatewayConfig:
    port: int = DEFAULT_PORT
    mode: Literal["local", "remote"] | None = None
    bind: BindMode = "loopback"
    custom_bind_host: str | None = None
    auth: AuthConfig = AuthConfig()
    control_ui: ControlUiConfig = ControlUiConfig()
    http: HttpConfig = HttpConfig()
    tools: GatewayToolsConfig = GatewayToolsConfig()
    tailscale: TailscaleConfig = TailscaleConfig()
    trusted_proxies: list[str] = attrs.field(factory=list)
    # Ours: Host names served besides loopback and the bound address (DNS-rebinding defence); a leading
    # "." or "*." matches subdomains.
    allowed_hosts: list[str] = attrs.field(factory=list)
    remote: RemoteConfig = RemoteConfig()
    reload: ReloadConfig = ReloadConfig()
    tls: TlsConfig = TlsConfig()
    nodes: NodesConfig = NodesConfig()
    # Ours (not in the original): protocol timings and limits, defaulting to the reference's constants.
    # Open → valid connect, else close 1000. One value for every version (the version is only known from
    # the connect itself): protocol 4's 15 s (OpenClaw's default; January's was 10 s). A client that
    # connects in time never notices the difference; a silent one is held 5 s longer.
    handshake_timeout_ms: int = 15_000
    tick_interval_ms: int = 30_000
    health_refresh_interval_ms: int = 60_000
    max_payload: int = 524_288
    max_buffered_bytes: int = 1_572_864
    max_in_flight_requests: int = 256  # per connection; past it a request is answered UNAVAILABLE at once
    restart_drain_ms: int = 30_000


# --- agents, models, session, messages ----------------------------------------------------------------

@attrs.frozen
class ModelRef:
    primary: str | None = None
    fallbacks: list[str] = attrs.field(factory=list)


@attrs.frozen
class HeartbeatConfig:
    every: str = "30m"
    active_hours: dict[str, Any] | None = None
    model: str | None = None
    session: str | None = None
    target: str | None = None
    to: str | None = None
    prompt: str | None = None
    ack_max_chars: int = 300
    include_reasoning: bool = False


@attrs.frozen
class SubagentsConfig:
    max_concurrent: int = 8


@attrs.frozen
class CompactionConfig:
    """``agents.defaults.compaction``: a session whose prompt comes within ``reserveTokensFloor`` of the
    context window is compacted before its next turn (``mode: "off"`` never); the turns of the last
    ``keepRecentTokens`` (estimated) stay as they are, the older ones become a summary by the model."""

    mode: Literal["default", "safeguard", "off"] = "default"
    reserve_tokens_floor: int = 20_000
    keep_recent_tokens: int = 20_000


@attrs.frozen
class AgentDefaults:
    model: ModelRef | str | None = None
    workspace: str | None = None
    skip_bootstrap: bool = False
    max_concurrent: int = 4
    timeout_seconds: int = 600
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    subagents: SubagentsConfig = SubagentsConfig()
    verbose_default: str | None = None
    thinking_default: str | None = None
    # The workspace files in the system prompt: each file, and all of them, capped (truncation marked).
    bootstrap_max_chars: int = 20_000
    bootstrap_total_max_chars: int = 150_000
    sandbox: SandboxConfig = SandboxConfig()
    # the context window turns are measured against (else the model catalog's contextWindow, else 200,000)
    context_tokens: int | None = None
    compaction: CompactionConfig = CompactionConfig()


@attrs.frozen
class AgentIdentity:
    name: str | None = None
    theme: str | None = None
    emoji: str | None = None
    avatar: str | None = None


@attrs.frozen
class AgentEntry:
    id: str
    default: bool = False
    name: str | None = None
    workspace: str | None = None
    model: ModelRef | str | None = None
    identity: AgentIdentity | None = None
    skip_bootstrap: bool | None = None
    tools: ToolPolicyConfig | None = None


@attrs.frozen
class AgentsConfig:
    defaults: AgentDefaults = AgentDefaults()
    entries: list[AgentEntry] = attrs.field(factory=list, metadata={"key": "list"})


@attrs.frozen
class ModelProviderConfig:
    base_url: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    api: str | None = None
    models: list[Any] = attrs.field(factory=list)
    headers: dict[str, str] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ModelsConfig:
    providers: dict[str, ModelProviderConfig] = attrs.field(factory=dict)


@attrs.frozen
class SessionConfig:
    scope: Literal["per-sender", "global"] = "per-sender"
    dm_scope: Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer"] = "main"
    main_key: str = "main"
    store: str | None = None
    identity_links: dict[str, Any] = attrs.field(factory=dict)
    send_policy: Any = None


@attrs.frozen
class QueueConfig:
    mode: str = "collect"
    debounce_ms: int = 1000
    cap: int = 20
    drop: Literal["old", "new", "summarize"] = "summarize"
    by_channel: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class MessagesConfig:
    queue: QueueConfig = QueueConfig()
    response_prefix: str | None = None


# --- channels, cron, hooks, canvas, commands, logging -------------------------------------------------

@attrs.frozen
class TelegramTopic:
    """``groups.<chatId>.topics.<threadId>``: a forum topic's own settings over its group's."""

    require_mention: bool | None = None
    allow_from: list[str | int] | None = None
    system_prompt: str | None = None


@attrs.frozen
class TelegramGroup:
    """``groups.<chatId>`` (or ``"*"``): listing a chat allows it under ``groupPolicy: allowlist``.

    ``requireMention`` defaults to true; ``allowFrom`` limits which senders are answered there;
    ``systemPrompt`` is added to the agent's for that chat. ``skills``/``tools``/``toolsBySender`` are
    not applied by this build (kept, with a warning)."""

    require_mention: bool | None = None
    allow_from: list[str | int] | None = None
    system_prompt: str | None = None
    topics: dict[str, TelegramTopic] = attrs.field(factory=dict)


@attrs.frozen
class TelegramAccount:
    enabled: bool = True
    bot_token: str | None = attrs.field(default=None, repr=False)
    token_file: str | None = None
    name: str | None = None
    dm_policy: DmPolicy = "pairing"
    allow_from: list[str | int] = attrs.field(factory=list)
    group_allow_from: list[str | int] = attrs.field(factory=list)
    group_policy: GroupPolicy = "allowlist"
    groups: dict[str, TelegramGroup] = attrs.field(factory=dict)
    reply_to_mode: Literal["off", "first", "all"] = "first"
    text_chunk_limit: int = 4000
    stream_mode: Literal["off", "partial", "block"] = "partial"
    timeout_seconds: int | None = None
    proxy: str | None = None
    api_root: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    webhook_path: str | None = None


@attrs.frozen
class TelegramConfig(TelegramAccount):
    accounts: dict[str, TelegramAccount] = attrs.field(factory=dict)


@attrs.frozen
class WhatsAppAccount:
    enabled: bool = True
    name: str | None = None
    auth_dir: str | None = None
    dm_policy: DmPolicy = "pairing"
    allow_from: list[str] = attrs.field(factory=list)
    group_policy: GroupPolicy = "allowlist"
    groups: dict[str, Any] = attrs.field(factory=dict)
    text_chunk_limit: int = 4000


@attrs.frozen
class WhatsAppConfig(WhatsAppAccount):
    accounts: dict[str, WhatsAppAccount] = attrs.field(factory=dict)


@attrs.frozen
class DiscordChannelRule:
    """``guilds.<guildId>.channels.<channelId>``: listing a channel allows it (``allow: false`` or
    ``enabled: false`` denies it); its ``requireMention``/``users``/``systemPrompt`` win over the guild's."""

    allow: bool | None = None
    enabled: bool | None = None
    require_mention: bool | None = None
    users: list[str | int] | None = None
    system_prompt: str | None = None


@attrs.frozen
class DiscordGuild:
    """``guilds.<guildId>`` (or ``"*"``): listing a guild allows it under ``groupPolicy: allowlist``; a
    ``channels`` block then allows only the channels it lists (a thread follows its parent channel)."""

    slug: str | None = None
    require_mention: bool | None = None
    users: list[str | int] | None = None
    system_prompt: str | None = None
    channels: dict[str, DiscordChannelRule] | None = None


@attrs.frozen
class DiscordDm:
    """The original's older ``dm`` block: ``enabled: false`` ignores DMs; ``policy``/``allowFrom`` are
    read when the account's own ``dmPolicy``/``allowFrom`` are unset."""

    enabled: bool = True
    policy: DmPolicy | None = None
    allow_from: list[str | int] | None = None
    group_enabled: bool = False


@attrs.frozen
class DiscordAccount:
    enabled: bool = True
    token: str | None = attrs.field(default=None, repr=False)
    token_file: str | None = None
    name: str | None = None
    dm_policy: DmPolicy | None = None  # unset: ``dm.policy``, else pairing
    allow_from: list[str | int] | None = None  # unset: ``dm.allowFrom``
    dm: DiscordDm = DiscordDm()
    group_policy: GroupPolicy = "allowlist"
    guilds: dict[str, DiscordGuild] = attrs.field(factory=dict)
    allow_bots: bool = False
    reply_to_mode: Literal["off", "first", "all"] = "off"
    text_chunk_limit: int = 2000
    api_base: str | None = None  # default https://discord.com/api/v10 (env DISCORD_API_BASE)
    gateway_url: str | None = None  # default: GET /gateway/bot (env DISCORD_GATEWAY_URL)
    timeout_seconds: int | None = None


@attrs.frozen
class DiscordConfig(DiscordAccount):
    accounts: dict[str, DiscordAccount] = attrs.field(factory=dict)


@attrs.frozen
class SlackChannelEntry:
    """``channels.slack.channels.<channelId>`` (or ``"*"``): listing a channel allows it under
    ``groupPolicy: allowlist``; ``allow: false`` or ``enabled: false`` refuses it under every policy;
    ``users`` limits who is answered there; ``requireMention`` (default: the account's) and
    ``systemPrompt`` as for Telegram groups."""

    allow: bool | None = None
    enabled: bool | None = None
    require_mention: bool | None = None
    users: list[str] | None = None
    system_prompt: str | None = None
    allow_bots: bool | None = None


@attrs.frozen
class SlackAccount:
    """One Slack app (reference ``channels.slack``): Socket Mode (``appToken``) or HTTP Events
    (``signingSecret``); the bot token (``xoxb-…``) for the Web API either way."""

    enabled: bool = True
    name: str | None = None
    mode: Literal["socket", "http"] = "socket"
    bot_token: str | None = attrs.field(default=None, repr=False)
    app_token: str | None = attrs.field(default=None, repr=False)
    signing_secret: str | None = attrs.field(default=None, repr=False)
    webhook_path: str = "/slack/events"
    dm_policy: DmPolicy = "pairing"
    allow_from: list[str | int] = attrs.field(factory=list)
    dm: dict[str, Any] | None = None  # legacy ``dm.policy``/``dm.allowFrom``: read when the above are unset
    group_policy: GroupPolicy = "allowlist"
    channels: dict[str, SlackChannelEntry] = attrs.field(factory=dict)
    require_mention: bool = True
    allow_bots: bool = False
    reply_to_mode: Literal["off", "first", "all"] = "off"
    text_chunk_limit: int = 4000
    api_root: str | None = None  # the Web API base (default https://slack.com/api); tests point it at a fake
    timeout_seconds: int | None = None


@attrs.frozen
class SlackConfig(SlackAccount):
    accounts: dict[str, SlackAccount] = attrs.field(factory=dict)


@attrs.frozen
class ChannelsConfig:
    telegram: TelegramConfig | None = None
    whatsapp: WhatsAppConfig | None = None
    discord: DiscordConfig | None = None
    slack: SlackConfig | None = None
    defaults: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class CronConfig:
    enabled: bool = True
    store: str | None = None
    max_concurrent_runs: int = 1


@attrs.frozen
class HooksConfig:
    enabled: bool = False
    path: str = "/hooks"
    token: str | None = attrs.field(default=None, repr=False)
    mappings: list[Any] = attrs.field(factory=list)
    presets: list[str] = attrs.field(factory=list)
    gmail: dict[str, Any] | None = None


@attrs.frozen
class CanvasHostConfig:
    enabled: bool = True
    root: str | None = None
    port: int | None = None
    live_reload: bool = True


@attrs.frozen
class CommandsConfig:
    # None (unset): SIGUSR1/SIGUSR2 restart (the seed's promise), the agent's gateway tool may not;
    # True: both may; False: neither (external restarts off). See config/schema.py's description.
    restart: bool | None = None


@attrs.frozen
class LoggingConfig:
    file: str | None = None
    level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


# --- browser (issue 22): the control service, managed profiles, the extension relay ------------------

@attrs.frozen
class BrowserProfileConfig:
    """``browser.profiles.<name>``: a managed Chromium (own user data dir and CDP port) or, with
    ``cdpUrl``, a browser someone else runs; ``driver: "extension"`` is the extension relay's tabs."""

    cdp_port: int | None = None
    cdp_url: str | None = None
    color: str | None = None
    driver: Literal["clawd", "moltbot", "extension"] | None = None
    headless: bool | None = None
    executable_path: str | None = None


@attrs.frozen
class BrowserSsrfPolicy:
    """Which navigation targets the agent's browser may open: public addresses only, unless this allows
    private ones (loopback, RFC 1918, link-local …) or names hosts. The canvas host is always allowed."""

    allow_private_network: bool = False
    allowed_hosts: list[str] = attrs.field(factory=list)


@attrs.frozen
class BrowserConfig:
    enabled: bool = True
    control_port: int | None = None  # ours: the original derives it only (gateway + 2)
    executable_path: str | None = None
    headless: bool | None = None  # None: headless unless a display (DISPLAY / WAYLAND_DISPLAY) is there
    no_sandbox: bool | None = None  # None: only when running as root (Chromium refuses its sandbox there)
    attach_only: bool = False
    default_profile: str | None = None
    color: str | None = None
    profiles: dict[str, BrowserProfileConfig] = attrs.field(factory=dict)
    extra_args: list[str] = attrs.field(factory=list)
    # Ours: the CDP port range ([start, end]; default control + 9 … + 108), how long an unused profile's
    # Chromium runs on (0: until stopped) and the navigation guard.
    cdp_port_range: list[int] | None = None
    idle_timeout_ms: int = 15 * 60_000
    ssrf_policy: BrowserSsrfPolicy = BrowserSsrfPolicy()
    allow_in_groups: bool = False  # ours: the agent's browser tool in group/channel sessions


# --- bindings: which agent answers an inbound message -----------------------------------------------

PeerKind = Literal["dm", "group", "channel"]
_AGENT_ID_CHARS = re.compile(r"[^a-z0-9_-]")


def normalize_agent_id(agent_id: str | None) -> str:
    """The reference's agent id normalisation: lowercase ``[a-z0-9_-]`` (others → ``-``), ≤ 64, ``main``
    when empty."""
    return _AGENT_ID_CHARS.sub("-", (agent_id or "").strip().lower())[:64].lstrip("-_") or "main"


@attrs.frozen
class BindingPeer:
    """One chat: ``kind`` and the platform's id (Telegram ids are numbers; kept as text)."""

    kind: PeerKind
    id: Any  # a string or an integer; checked and turned into text by ``load.check_bindings``


@attrs.frozen
class BindingMatch:
    """What an inbound message must come from. ``accountId`` unset matches the default account only,
    ``"*"`` any account of the channel."""

    channel: str
    account_id: str | None = None
    peer: BindingPeer | None = None
    guild_id: str | None = None
    team_id: str | None = None


@attrs.frozen
class Binding:
    agent_id: str
    match: BindingMatch


# Top-level sections of the original's config that this gateway keeps but does not read (yet): no warning.
ORIGINAL_SECTIONS = frozenset(
    "wizard identity audio agent routing talk skills plugins ui discovery broadcast update "
    "nodeHost diagnostics approvals web auth $schema".split()
)


@attrs.frozen
class Config:
    """A loaded config: the typed sections, where it came from, and the raw parsed file."""

    gateway: GatewayConfig = GatewayConfig()
    agents: AgentsConfig = AgentsConfig()
    models: ModelsConfig = ModelsConfig()
    session: SessionConfig = SessionConfig()
    messages: MessagesConfig = MessagesConfig()
    channels: ChannelsConfig = ChannelsConfig()
    cron: CronConfig = CronConfig()
    hooks: HooksConfig = HooksConfig()
    canvas_host: CanvasHostConfig = CanvasHostConfig()
    commands: CommandsConfig = CommandsConfig()
    logging: LoggingConfig = LoggingConfig()
    tools: ToolsConfig = ToolsConfig()
    browser: BrowserConfig = BrowserConfig()
    bindings: list[Binding] = attrs.field(factory=list)
    env: dict[str, Any] = attrs.field(factory=dict)
    meta: dict[str, Any] = attrs.field(factory=dict)
    path: Path | None = attrs.field(default=None, metadata={"file": False})
    state_dir: Path | None = attrs.field(default=None, metadata={"file": False})
    raw: dict[str, Any] = attrs.field(factory=dict, metadata={"file": False}, repr=False)
    warnings: tuple[str, ...] = attrs.field(default=(), metadata={"file": False})

    def with_gateway(self, **changes: Any) -> Config:
        return attrs.evolve(self, gateway=attrs.evolve(self.gateway, **changes))

"""The ``hello-ok`` a Runtime answers an accepted ``connect`` with, and its wire text.

``hello_ok`` builds the payload for the accepted protocol: at 3 and 7 the shape those clients have always
had, at 4 protocol 4's closed one (``server.buildId``/``bootId``, ``auth`` always, the health summary as
4 requires it, ``pluginSurfaceUrls`` in place of ``canvasHostUrl``). ``hello_text`` encodes it with the
presence list's JSON spliced in from the registry's per-entry cache: a hello-ok lists up to 200 entries,
and encoding them for every connect was most of the cost of opening a connection.
"""

from __future__ import annotations

import socket
import uuid
from typing import TYPE_CHECKING

import attrs

from ..agents.heartbeat import DEFAULT_PROMPT
from ..protocol import (
    EVENTS,
    METHODS,
    SERVER_CAPABILITIES,
    Accept,
    AttachmentLimits,
    Features,
    HealthSummary,
    HelloAuth,
    HelloOk,
    Policy,
    ServerInfo,
    SessionDefaults,
    Snapshot,
    dumps,
    unstructure,
)
from .presence import PresenceRegistry

if TYPE_CHECKING:
    from ..config.model import Config
    from .connection import Connection
    from .runtime import Runtime

__all__ = ["BOOT_ID", "build_id", "hello_ok", "hello_text"]

_PRESENCE_PLACEHOLDER = f"\x00presence-{uuid.uuid4().hex}\x00"
_PRESENCE_PLACEHOLDER_JSON = dumps(_PRESENCE_PLACEHOLDER)
# ``hello-ok.server.bootId`` at protocol 4: one per process start (an in-process restart keeps it), so a
# client can tell "the gateway restarted" from "my socket dropped".
BOOT_ID = str(uuid.uuid4())


def build_id(version: str, commit: str | None) -> str:
    """``hello-ok.server.buildId`` at protocol 4: the version, with the commit when the build knows it
    (``GIT_COMMIT``), at most 96 characters."""
    return (f"{version}-{commit[:12]}" if commit else version)[:96]


def hello_ok(runtime: Runtime, connection: Connection, accept: Accept) -> HelloOk:
    """The ``hello-ok`` for ``accept``'s protocol: at 3 and 7 the shape those clients have always had;
    at 4 protocol 4's (its ``HelloOk`` is closed: ``server.commit/host`` and ``canvasHostUrl`` are
    left out, ``auth`` is always there, ``pluginSurfaceUrls`` replaces ``canvasHostUrl``)."""
    config, state = runtime.config, runtime.state
    gateway_config = config.gateway
    v4 = accept.protocol == 4
    commit = state.env.get("GIT_COMMIT") or None
    health = runtime.health.snapshot()
    canvas_url = runtime.canvas_host_url(connection.transport.facts)
    policy = Policy(
        max_payload=gateway_config.max_payload,
        max_buffered_bytes=gateway_config.max_buffered_bytes,
        tick_interval_ms=gateway_config.tick_interval_ms,
    )
    if v4:
        server = ServerInfo(
            version=state.version,
            conn_id=connection.conn_id,
            build_id=build_id(state.version, commit),
            boot_id=BOOT_ID,
            control_ui_build_source="configured" if gateway_config.control_ui.root else None,
        )
        # Attachments travel base64 inside one frame: decoded, none can exceed 3/4 of maxPayload.
        ceiling = gateway_config.max_payload * 3 // 4
        policy = attrs.evolve(
            policy, attachments=AttachmentLimits(max_bytes=ceiling, max_image_bytes=ceiling)
        )
    else:
        server = ServerInfo(
            version=state.version,
            conn_id=connection.conn_id,
            commit=commit,
            host=socket.gethostname() or None,
        )
    agents = runtime.agents
    return HelloOk(
        type="hello-ok",
        protocol=accept.protocol,
        server=server,
        features=Features(
            methods=list(METHODS), events=list(EVENTS), capabilities=list(SERVER_CAPABILITIES) if v4 else None
        ),
        snapshot=Snapshot(
            presence=runtime.presence.entries(),
            health=(_health_v4(config, health) if v4 else health) or {},
            state_version=runtime.broadcaster.state_version(),
            uptime_ms=state.uptime_ms(),
            config_path=str(config.path) if config.path else None,
            state_dir=str(config.state_dir) if config.state_dir else None,
            session_defaults=SessionDefaults(
                default_agent_id=agents.default_agent_id(),
                main_key=config.session.main_key,
                main_session_key=agents.main_key(),
                scope=config.session.scope,
            ),
            auth_mode=runtime.authenticator.mode if v4 else None,
        ),
        policy=policy,
        auth=_hello_auth_v4(accept) if v4 else accept.device_auth,
        canvas_host_url=None if v4 else canvas_url,
        plugin_surface_urls={"canvas": canvas_url} if v4 and canvas_url else None,
    )


def hello_text(presence: PresenceRegistry, request_id: str, hello: HelloOk) -> str:
    """The ``res`` frame carrying ``hello``: the text ``encode_frame(ResponseFrame(id=request_id, ok=True,
    payload=hello))`` gives, with the presence list's JSON spliced in from ``PresenceRegistry.wire``
    (in place of a placeholder no client can write: it holds a random token of this process)."""
    snapshot = hello.snapshot
    payload = unstructure(attrs.evolve(hello, snapshot=attrs.evolve(snapshot, presence=[])))
    payload["snapshot"]["presence"] = _PRESENCE_PLACEHOLDER
    text = dumps({"type": "res", "id": request_id, "ok": True, "payload": payload})
    return text.replace(_PRESENCE_PLACEHOLDER_JSON, presence.wire(snapshot.presence), 1)


def _hello_auth_v4(accept: Accept) -> HelloAuth:
    """Protocol 4's ``auth``: the socket's effective scopes always, the device token when one was issued."""
    device = accept.device_auth
    return HelloAuth(
        role=accept.role,
        scopes=list(accept.scopes),
        device_token=device.device_token if device else None,
        issued_at_ms=device.issued_at_ms if device else None,
        method=accept.auth_method,  # type: ignore[arg-type]
    )


def _health_v4(config: Config, health: HealthSummary | None) -> HealthSummary | None:
    """The health summary in protocol 4's closed ``snapshot.health``: without our ``linkChannel``, and
    each agent's heartbeat with the prompt and target it really uses (4 requires both)."""
    if health is None:
        return None
    beat = config.agents.defaults.heartbeat
    agents = [
        attrs.evolve(
            agent,
            heartbeat=attrs.evolve(
                agent.heartbeat,
                prompt=agent.heartbeat.prompt or beat.prompt or DEFAULT_PROMPT,
                target=agent.heartbeat.target or beat.target or "none",
            ),
        )
        for agent in health.agents
    ]
    return attrs.evolve(health, link_channel=None, agents=agents)

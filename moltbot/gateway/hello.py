"""The ``hello-ok`` a Runtime answers an accepted ``connect`` with, and its wire text.

``hello_ok`` builds the payload for the accepted protocol: at 3 and 7 the shape those clients have always
had, at 4 protocol 4's closed one (``server.buildId``/``bootId``, ``auth`` always, the health summary as
4 requires it, ``pluginSurfaceUrls`` in place of ``canvasHostUrl``). ``hello_text`` encodes it with the
presence list's JSON spliced in from the registry's per-entry cache: a hello-ok lists up to 200 entries,
and encoding them for every connect was most of the cost of opening a connection.
"""

from __future__ import annotations

import functools
import socket
import uuid
from typing import TYPE_CHECKING, Any

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
    PresenceEntry,
    ServerInfo,
    SessionDefaults,
    Snapshot,
    StateVersion,
    dumps,
    unstructure,
)
from .presence import PresenceRegistry

if TYPE_CHECKING:
    from ..config.model import Config
    from .connection import Connection
    from .runtime import Runtime

__all__ = ["BOOT_ID", "HelloTemplates", "build_id", "hello_frame", "hello_ok", "hello_text"]

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
    health = runtime.health.snapshot()
    v4 = accept.protocol == 4
    return _hello(
        runtime,
        connection,
        accept,
        conn_id=connection.conn_id,
        presence=runtime.presence.entries(),
        health=(_health_v4(runtime.config, health) if v4 else health) or {},
        state_version=runtime.broadcaster.state_version(),
        uptime_ms=runtime.state.uptime_ms(),
        auth=_hello_auth_v4(accept) if v4 else accept.device_auth,
    )


def _hello(
    runtime: Runtime,
    connection: Connection,
    accept: Accept,
    *,
    conn_id: str,
    presence: list[PresenceEntry],
    health: Any,
    state_version: StateVersion,
    uptime_ms: int,
    auth: HelloAuth | None,
) -> HelloOk:
    """``hello_ok`` with its per-connection values given (``hello_frame`` gives placeholders for them)."""
    config, state = runtime.config, runtime.state
    gateway_config = config.gateway
    v4 = accept.protocol == 4
    commit = state.env.get("GIT_COMMIT") or None
    canvas_url = runtime.canvas_host_url(connection.transport.facts)
    policy = Policy(
        max_payload=gateway_config.max_payload,
        max_buffered_bytes=gateway_config.max_buffered_bytes,
        tick_interval_ms=gateway_config.tick_interval_ms,
    )
    if v4:
        server = ServerInfo(
            version=state.version,
            conn_id=conn_id,
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
            conn_id=conn_id,
            commit=commit,
            host=_host_name(),
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
            presence=presence,
            health=health,
            state_version=state_version,
            uptime_ms=uptime_ms,
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
        auth=auth,
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


# --- the wire text from a template ------------------------------------------------------------------
#
# Most of a hello-ok is the same for every client of a Runtime (the method and event lists, policy,
# session defaults, paths): ``hello_frame`` encodes it once, with placeholders where the per-connection
# values go, and splices those in. The template is keyed by the hello-ok itself built with fixed values in
# those places (attrs equality), so anything else that changes (a config reload, another protocol, canvas
# URL or auth mode) gets a template of its own: the text is always what ``hello_text(hello_ok(...))`` gives.

_SLOT_MARK = uuid.uuid4().hex
_SLOTS = ("id", "conn", "presence", "health", "state", "uptime", "auth")
_KEY_STATE = StateVersion(presence=0, health=0)
_TEMPLATES_KEPT = 8  # distinct templates kept (protocols x canvas hosts x auth present or not)


def _slot(name: str) -> str:
    return f"\x00hello-{_SLOT_MARK}-{name}\x00"


@functools.cache
def _host_name() -> str | None:
    """``server.host`` (protocols 3 and 7): the host name, read once (as the presence list's own entry)."""
    return socket.gethostname() or None


class HelloTemplates:
    """A Runtime's hello-ok templates: ``(key, parts)`` pairs, newest first; ``parts`` alternates static
    JSON text and slot names."""

    __slots__ = ("_health", "_templates")

    def __init__(self) -> None:
        self._templates: list[tuple[tuple[HelloOk, bool], list[str]]] = []
        self._health: tuple[Any, bool, Any, str] | None = None  # (summary, v4, config, its JSON)

    def parts(self, key: tuple[HelloOk, bool], auth: HelloAuth | None) -> list[str] | None:
        for index, (known, parts) in enumerate(self._templates):
            if known == key:
                if index:
                    self._templates.insert(0, self._templates.pop(index))
                return parts
        made = _template(key[0] if auth is None else attrs.evolve(key[0], auth=auth))
        if made is not None:
            self._templates.insert(0, (key, made))
            del self._templates[_TEMPLATES_KEPT:]
        return made

    def health(self, runtime: Runtime, v4: bool) -> str:
        """The JSON of ``snapshot.health``, encoded once per summary (the health monitor's object)."""
        summary, config = runtime.health.snapshot(), runtime.config
        cached = self._health
        if cached is not None and cached[0] is summary and cached[1] is v4 and cached[2] is config:
            return cached[3]
        text = dumps(unstructure((_health_v4(config, summary) if v4 else summary) or {}))
        self._health = (summary, v4, config, text)
        return text


def _template(hello: HelloOk) -> list[str] | None:
    """``hello`` (built with the key's fixed values) as the frame's text cut at the slots; None when a slot
    is not where it is expected (the shape changed: ``hello_frame`` then encodes the whole frame)."""
    payload = unstructure(hello)
    try:
        server, snapshot = payload["server"], payload["snapshot"]
        for holder, field, name in (
            (server, "connId", "conn"),
            (snapshot, "presence", "presence"),
            (snapshot, "health", "health"),
            (snapshot, "stateVersion", "state"),
            (snapshot, "uptimeMs", "uptime"),
            *(((payload, "auth", "auth"),) if hello.auth is not None else ()),
        ):
            if field not in holder:
                return None
            holder[field] = _slot(name)
    except (KeyError, TypeError):
        return None
    text = dumps({"type": "res", "id": _slot("id"), "ok": True, "payload": payload})
    marks = {dumps(_slot(name)): name for name in _SLOTS}
    parts: list[str] = []
    rest = text
    while True:
        found = [(rest.find(mark), mark) for mark in marks if mark in rest]
        if not found:
            break
        at, mark = min(found)
        parts += [rest[:at], marks[mark]]
        rest = rest[at + len(mark) :]
    parts.append(rest)
    return parts


def hello_frame(runtime: Runtime, connection: Connection, accept: Accept, templates: HelloTemplates) -> str:
    """The ``res`` frame answering ``accept`` with its hello-ok: the text
    ``hello_text(runtime.presence, accept.request_id, hello_ok(runtime, connection, accept))`` gives,
    from a template (``HelloTemplates``) with this connection's values spliced in. Encoding the whole
    hello-ok (34 KB with 200 presence entries, 2 KB of method and event names) for every connect was most
    of the gateway's CPU per open."""
    v4 = accept.protocol == 4
    auth = _hello_auth_v4(accept) if v4 else accept.device_auth
    key_hello = _hello(
        runtime,
        connection,
        accept,
        conn_id="-",
        presence=[],
        health={},
        state_version=_KEY_STATE,
        uptime_ms=0,
        auth=None,
    )
    parts = templates.parts((key_hello, auth is None), auth)
    if parts is None:  # pragma: no cover - a HelloOk whose slots moved: the slow way, still right
        return hello_text(runtime.presence, accept.request_id, hello_ok(runtime, connection, accept))
    values = {
        "id": dumps(accept.request_id),
        "conn": dumps(connection.conn_id),
        "presence": runtime.presence.wire_now(),
        "health": templates.health(runtime, v4),
        "state": dumps(unstructure(runtime.broadcaster.state_version())),
        "uptime": str(runtime.state.uptime_ms()),
        "auth": dumps(unstructure(auth)) if auth is not None else "null",
    }
    return "".join([values[part] if index % 2 else part for index, part in enumerate(parts)])


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

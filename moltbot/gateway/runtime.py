"""The Runtime: everything built from one config, in one cancel scope, rebuilt on restart.

It owns the authenticator, the broadcaster (seq, state versions, tick), presence, the health monitor and
the method handlers, plus the tasks that serve them, and its client connections: the listener hands each
accepted WebSocket over to the Runtime's connection nursery (``connection.serve_client``). ``drain()``
broadcasts ``shutdown``, closes them 1012 after their queued frames and waits (bounded) for them to go;
then the Gateway stops its ``runtime`` child (cancelling what is left: no connection outlives its
Runtime) and starts a new one. What a connect is answered with is built in ``hello.py``; the presence
rows of the connections are kept by ``presence.PresenceTracker``.
"""

from __future__ import annotations

import logging
import os
import re
import weakref
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING

import trio

from ..agents.heartbeat import HeartbeatRunner
from ..agents.models import ModelCatalog
from ..agents.providers.base import ModelInfo, Provider
from ..agents.runtime import AgentRuntime
from ..agents.tools import ToolRegistry
from ..agents.tracking import RunTracker
from ..browser.server import BrowserService
from ..channels.manager import ChannelManager
from ..config.model import Config
from ..http.host import HOOK_RATE_LIMIT  # not http.hooks: that loads Quart
from ..nodes.service import NodesService
from ..protocol import (
    CLOSE_SERVICE_RESTART,
    Accept,
    ConfigReloadStatus,
    ErrorCounts,
    EventFrame,
    GatewayStatus,
    HeartbeatEvent,
    LaneStatus,
    ProtocolError,
    Reject,
    ServerHandshake,
    encode_frame,
    event_guard,
    guard_admits,
)
from ..protocol import SCOPE_APPROVALS as APPROVALS
from ..tailscale import make_verifier
from .agent_tools import register_gateway_tools
from .approvals import ApprovalBroker
from .auth import Authenticator, FailureLimiter, ResolvedAuth
from .broadcast import Broadcaster
from .connection import Connection, serve_connections
from .cron import build_cron_service
from .health import HealthMonitor
from .hello import HelloTemplates
from .hosts import BrowserHostAdapter, NodesHostAdapter
from .methods import HANDLERS, INLINE
from .presence import PresenceRegistry, PresenceTracker
from .retire import Retirement
from .state import GatewayStats
from .transport import Peer, Transport

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("moltbot.gateway")

# A host name, an IPv4 address or an IPv6 address (bracketed or not): nothing else goes into a URL.
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]|[0-9A-Fa-f:.]{2,45}")
_ANY_ADDRESS = ("0.0.0.0", "::", "[::]")
RETIRE_GRACE_SECONDS = 2.0  # a retired Runtime's connections get this long to close


class Runtime:
    def __init__(self, gateway: Gateway, config: Config) -> None:
        self.gateway = gateway
        self.config = config
        self.state = gateway.state  # stats, system events, the last heartbeat: they outlive this Runtime
        auth = ResolvedAuth.resolve(config.gateway.auth, gateway.env)
        self.authenticator = Authenticator(auth, config.gateway.auth.rate_limit, lambda: trio.current_time() * 1000,
                                           tailscale=make_verifier(config.gateway, gateway.env))
        self.hook_limiter = FailureLimiter(HOOK_RATE_LIMIT, lambda: trio.current_time() * 1000)
        self.broadcaster = Broadcaster()
        self.session_subscribers: weakref.WeakSet[Connection] = weakref.WeakSet()  # sessions.subscribe
        # The presence rows (``presence``), those of our connections kept by the tracker.
        self.presence_tracker = PresenceTracker(PresenceRegistry(gateway.state.version), self.broadcaster)
        self.hello_templates = HelloTemplates()  # the hello-ok's unchanging text, encoded once
        self.nodes = NodesService(NodesHostAdapter(self))  # device/node pairing stores, connected nodes, mDNS advertisement
        self.health = HealthMonitor(self.broadcaster, agents=None, interval_ms=config.gateway.health_refresh_interval_ms)
        self.handlers = dict(HANDLERS)
        self.inline_methods = set(INLINE)
        # Hot-reload actions by kind ("restart-channel", "reload-cron", …), registered by subsystems.
        self.hot_actions: dict[str, Callable[[str], None]] = {}
        self.runs = RunTracker()
        self.tools = ToolRegistry()
        self.approvals = ApprovalBroker(partial(self.broadcaster.broadcast, droppable=False, scope=APPROVALS),
                                        config.state_dir)
        self.models = ModelCatalog(config, gateway.env)
        self.agents = AgentRuntime(config, emit=self._emit, resolve_provider=self.resolve_provider,
                                   state_dir=config.state_dir, tracker=self.runs, tools=self.tools,
                                   audience=lambda: bool(self.broadcaster.connections))
        self.health.agents = self.agents
        self.heartbeat = HeartbeatRunner(self.agents, report=self._report_heartbeat,
                                         enabled=lambda: self.state.heartbeats_enabled)
        self.hot_actions["reload-heartbeat"] = self.heartbeat.poke
        register_gateway_tools(self)
        self.cron = build_cron_service(self)  # registers the "reload-cron" hot action
        self.channels = ChannelManager(self)  # one supervised task per channel account
        self.hot_actions["restart-channel"] = self.channels.restart_action
        self.browser = BrowserService(BrowserHostAdapter(self))  # off in embedded/test gateways on port 0 unless configured
        self.hot_actions["restart-browser-control"] = self.browser.restart_action
        self.health.channels = self.channels.health
        self.health.link_channel = self.channels.link_channel
        self.connection_nursery: trio.Nursery | None = None  # while serving: where connections run
        self.retirement = Retirement(self.broadcaster)  # draining, stopping the services, the clients' going

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run the Runtime until cancelled (the Gateway's ``runtime`` child stops it), or, once ``retire``
        has stopped its services, until its last connection has closed (≤ ``RETIRE_GRACE_SECONDS``)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_connections, self, name="connections")
            with self.retirement.services_scope:
                async with self.models.open(), trio.open_nursery() as services:  # its HTTP client: on first use
                    await services.start(self.health.serve, name="health")
                    await services.start(self.nodes.serve, name="nodes")
                    services.start_soon(self.broadcaster.serve_ticks, self.config.gateway.tick_interval_ms,
                                        name="ticks")
                    services.start_soon(self.presence_tracker.serve, name="presence")
                    await services.start(self.agents.serve, name="agents")
                    await services.start(self.heartbeat.serve, name="heartbeat")
                    await services.start(self.cron.serve, name="cron")
                    await services.start(self.channels.serve, name="channels")
                    await services.start(self.browser.serve, name="browser")
                    task_status.started()
            # Retired (``retire``): the services have ended; the connections, told to go, are closing.
            self.retirement.services_ended.set()
            await self.retirement.wait_closed(RETIRE_GRACE_SECONDS)
            nursery.cancel_scope.cancel()

    async def drain(self, reason: str, restart_expected_ms: int | None, *, runs_grace: float, grace: float) -> None:
        """Finish or cancel runs in flight, tell every client why, close them 1012, wait ≤ ``grace`` s.

        Runs get ``runs_grace`` seconds to finish while clients stay connected (so their results still
        arrive) and new runs are refused; then the rest are cancelled with a clear error.
        """
        await self.begin_drain(reason, runs_grace=runs_grace)
        await self.send_off(reason, restart_expected_ms)
        await self.retirement.wait_closed(grace)

    async def begin_drain(self, reason: str, *, runs_grace: float) -> None:
        """Runs finished or cancelled; from now on no connection registers and a request is not acted on
        (it ends with the connection's 1012 close, and the client sends it again to the next Runtime)."""
        await self.runs.drain(trio.current_time() + runs_grace, reason)
        self.retirement.begin()

    async def send_off(self, reason: str, restart_expected_ms: int | None) -> None:
        """Send every client ``shutdown`` and its 1012 close, a batch at a time (``Retirement.send_off``)."""
        await self.retirement.send_off(reason, restart_expected_ms)

    async def retire(self) -> None:
        """After ``begin_drain``: stop the services (channels, cron, the agents, …: what must never run
        twice) and return once they have ended, so that the next Runtime can start at once; this one's
        ``serve`` goes on until its connections have closed (``send_off``, bounded), so a restart's
        downtime does not wait for a thousand close frames."""
        await self.retirement.retire()

    @property
    def draining(self) -> bool:
        """Being replaced or stopped: no connection registers, no request is acted on."""
        return self.retirement.draining

    @property
    def presence(self) -> PresenceRegistry:
        return self.presence_tracker.registry

    def _emit(self, event: str, payload: object, droppable: bool) -> None:
        if event == "sessions.changed":
            self.sessions_changed(payload)
            return
        self.broadcaster.broadcast(event, payload, droppable=droppable)

    def sessions_changed(self, payload: object) -> None:
        """``sessions.changed`` to the connections that called ``sessions.subscribe`` (OpenClaw's
        subscribers) and still hold read. Targeted, so without a ``seq``: the global one counts what every
        client receives, and a gap there would make the others refetch."""
        targets = [connection for connection in self.session_subscribers
                   if connection in self.broadcaster.connections
                   and guard_admits(event_guard("sessions.changed"), connection.session.role,
                                    connection.session.scopes, connection.session.protocol)]
        if not targets:
            return
        text = encode_frame(EventFrame(event="sessions.changed", payload=payload))
        for connection in targets:
            connection.send(text, droppable=True)

    def _report_heartbeat(self, event: HeartbeatEvent) -> None:
        self.state.last_heartbeat = event
        self.broadcaster.broadcast("heartbeat", event, droppable=True)

    @property
    def stats(self) -> GatewayStats:
        return self.state.stats

    @property
    def env(self) -> Mapping[str, str]:
        return self.state.env

    def client_count(self) -> int:
        return len(self.broadcaster.connections)

    def system_event(self, text: str) -> None:
        self.state.system_event(text)

    def resolve_provider(self, agent_id: str, model: str | None = None) -> tuple[Provider, str]:
        """The model provider and model name for an agent: ``model`` (a run's override), else the agent's
        own, else the default."""
        if model:
            return self.models.resolve(model)
        entry = next((a for a in self.config.agents.entries if a.id == agent_id), None)
        configured = entry.model if entry is not None and entry.model else self.config.agents.defaults.model
        return self.models.resolve(configured)

    def list_models(self) -> list[ModelInfo]:
        return self.models.models()

    def apply_config(self, config: Config, actions: tuple[str, ...]) -> None:
        """Hot-apply ``config``: later reads see it; each action is run by the subsystem that owns it."""
        self.config = config
        self.models.reset(config)
        self.agents.apply_config(config)
        for action in actions:
            handler = self.hot_actions.get(action.split(":", 1)[0])
            if handler is None:
                log.info("hot reload: %s (nothing running to restart)", action)
            else:
                handler(action)

    # --- connections ----------------------------------------------------------------------------

    async def authenticate(self, handshake: ServerHandshake, accept: Accept, transport: Transport) -> Accept | Reject:
        """Shared secret or device token, device identity and pairing (``devices.admission``)."""
        try:
            accept, identity = await self.nodes.admit(accept, handshake.nonce, transport.facts)
        except ProtocolError as exc:
            return handshake.reject(accept.request_id, exc)
        if identity is not None:
            transport.tailscale_identity = identity  # type: ignore[attr-defined]  # presence and the log show it
        return accept

    def canvas_host_url(self, peer: Peer) -> str | None:
        """``http(s)://<host>:<canvas port>`` while the canvas host runs: the host the client asked for
        (its Host header), else the address it connected to; https only behind a trusted proxy saying so."""
        port = self.gateway.canvas.port
        if port is None:
            return None
        host = next((h for h in (peer.host, peer.local_host, self.gateway.canvas.host)
                     if h and h not in _ANY_ADDRESS and _HOST_NAME.fullmatch(h)), "127.0.0.1")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        trusted = peer.address in self.config.gateway.trusted_proxies
        scheme = "https" if trusted and peer.forwarded_proto == "https" else "http"
        return f"{scheme}://{host}:{port}"

    def register(self, connection: Connection) -> None:
        if self.draining:  # accepted while this Runtime was being replaced: the client reconnects
            connection.close(CLOSE_SERVICE_RESTART, "service restart")
            return
        self.broadcaster.connections.add(connection)
        self.nodes.attach(connection)
        if connection.presence_key is not None:
            self.presence_tracker.announce(bump=False)
        self.health.request_refresh()

    def unregister(self, connection: Connection) -> None:
        self.broadcaster.connections.discard(connection)
        self.session_subscribers.discard(connection)
        self.nodes.detach(connection)
        if connection.slow:
            self.stats.slow_consumers += 1
        if connection.presence_key is not None and self.presence_tracker.release(connection.presence_key):
            if not self.draining:
                self.presence_tracker.announce()
        self.retirement.connection_gone()

    # --- status ---------------------------------------------------------------------------------

    def gateway_status(self) -> GatewayStatus:
        stats = self.stats
        return GatewayStatus(
            version=self.state.version, pid=os.getpid(), uptime_ms=self.state.uptime_ms(),
            connections=len(self.broadcaster.connections),
            errors=ErrorCounts(handler=stats.handler_errors, protocol=stats.protocol_errors,
                               auth=stats.auth_failures, slow_consumer=stats.slow_consumers),
            config=None if self.config.path is None else ConfigReloadStatus(
                path=str(self.config.path), reloads=stats.reloads, last_reload_at_ms=stats.last_reload_at_ms,
                last_reload=stats.last_reload, error=stats.reload_error, error_at_ms=stats.reload_error_at_ms),
        )

    def lane_statuses(self) -> list[LaneStatus]:
        return [LaneStatus(lane=lane.lane, queued=lane.queued, active=lane.active,
                           max_concurrent=lane.max_concurrent, completed=lane.completed, errors=lane.errors)
                for lane in self.agents.lanes.statistics()]

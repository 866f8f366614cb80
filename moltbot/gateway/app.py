"""The Gateway: the root nursery and everything that lives for the whole process.

``serve_gateway`` is the service form (``await nursery.start(serve_gateway, config)`` returns the running
``Gateway``); ``open_gateway`` is the context-manager form for programs that embed the gateway in their
own nursery. Children of the root nursery: the health monitor, the tick broadcaster and the listener
(hypercorn serving one port, WebSocket at ``/`` and HTTP). Each client connection runs in its own nursery
under hypercorn's connection task (``gateway.connection``).

Stopping is graceful and bounded: broadcast ``shutdown {reason, restartExpectedMs}``, close every client
with 1012 after its queued frames, wait for them (≤ 2 s), then stop the listener and cancel the rest.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import attrs
import trio

from .. import __version__
from .._util import collapse_single_exception_group
from ..config.model import Config
from ..protocol import (
    CLOSE_SERVICE_RESTART,
    EVENTS,
    METHODS,
    Accept,
    Features,
    HelloOk,
    Policy,
    PresenceEntry,
    PresenceEvent,
    ProtocolError,
    Reject,
    ServerHandshake,
    ServerInfo,
    SessionDefaults,
    ShutdownEvent,
    Snapshot,
)
from ..protocol._payloads.system import ErrorCounts, GatewayStatus, HeartbeatEvent, LaneStatus
from .auth import Authenticator, AuthSetupError, ResolvedAuth, is_loopback
from .broadcast import Broadcaster
from .connection import Connection
from .health import DEFAULT_AGENT_ID, HealthMonitor
from .listener import resolve_bind_host, serve_listener
from .methods import HANDLERS
from .presence import PresenceRegistry, wall_ms
from .transport import Transport

log = logging.getLogger("moltbot.gateway")

__all__ = ["Gateway", "GatewayStats", "open_gateway", "serve_gateway"]

STOP_GRACE_SECONDS = 2.0


@attrs.define
class GatewayStats:
    """Counters since start, reported by ``status``."""

    handler_errors: int = 0
    protocol_errors: int = 0
    auth_failures: int = 0
    slow_consumers: int = 0
    handshakes_rejected: int = 0

    def handshake_rejected(self, outcome: Reject) -> None:
        self.handshakes_rejected += 1
        if outcome.close_reason.startswith("unauthorized"):
            self.auth_failures += 1
        elif outcome.close_reason == "slow consumer":
            self.slow_consumers += 1
        else:
            self.protocol_errors += 1


class Gateway:
    """The running gateway. Create it with ``serve_gateway``/``open_gateway``, not directly."""

    def __init__(self, config: Config, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.version = self.env.get("CLAWDBOT_VERSION") or __version__
        auth = ResolvedAuth.resolve(config.gateway.auth, self.env)
        self.authenticator = Authenticator(auth, config.gateway.auth.rate_limit,
                                           lambda: trio.current_time() * 1000)
        self.broadcaster = Broadcaster()
        self.presence = PresenceRegistry(self.version)
        self.sessions_path = (config.state_dir / "agents" / DEFAULT_AGENT_ID / "sessions" / "sessions.json"
                              if config.state_dir else None)
        self.health = HealthMonitor(self.broadcaster, sessions_path=self.sessions_path,
                                    interval_ms=config.gateway.health_refresh_interval_ms)
        self.handlers = dict(HANDLERS)
        self.stats = GatewayStats()
        self.system_events: list[str] = []
        self.last_heartbeat: HeartbeatEvent | None = None
        self.urls: list[str] = []
        self.started_at = trio.current_time()
        self._stop_requested = trio.Event()
        self._stopped = trio.Event()
        self._stop_reason = ("gateway stopping", None)
        self._listener_stop = trio.Event()
        self._all_closed = trio.Event()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket URL of the first bound address (``ws://127.0.0.1:<port>``)."""
        return self.urls[0].replace("http://", "ws://", 1).replace("https://", "wss://", 1)

    @property
    def port(self) -> int:
        return int(self.urls[0].rsplit(":", 1)[1])

    async def serve(self, *, port: int | None = None, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run until ``stop()``; report ``self`` once the port is bound."""
        from ..http.app import make_asgi_app

        gateway_config = self.config.gateway
        host = resolve_bind_host(gateway_config)
        bind_port = gateway_config.port if port is None else port
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.health.serve)
                nursery.start_soon(self.broadcaster.serve_ticks, gateway_config.tick_interval_ms)
                self.urls = await nursery.start(
                    serve_listener, make_asgi_app(self), host, bind_port, gateway_config.max_payload,
                    self._listener_stop.wait)
                log.info("gateway listening on %s (auth: %s)", self.url, self.authenticator.mode)
                task_status.started(self)
                await self._stop_requested.wait()
                await self._drain(*self._stop_reason)
                nursery.cancel_scope.cancel()
        finally:
            self._stopped.set()

    def request_stop(self, reason: str = "gateway stopping", restart_expected_ms: int | None = None) -> None:
        if not self._stop_requested.is_set():
            self._stop_reason = (reason, restart_expected_ms)
            self._stop_requested.set()

    async def stop(self, reason: str = "gateway stopping", restart_expected_ms: int | None = None) -> None:
        """Stop gracefully and wait until everything has ended."""
        self.request_stop(reason, restart_expected_ms)
        await self._stopped.wait()

    async def _drain(self, reason: str, restart_expected_ms: int | None) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE_SECONDS):
            self.broadcaster.broadcast("shutdown", ShutdownEvent(reason, restart_expected_ms), droppable=False)
            for connection in list(self.broadcaster.connections):
                connection.close(CLOSE_SERVICE_RESTART, "service restart")
            if self.broadcaster.connections:
                await self._all_closed.wait()
        self._listener_stop.set()

    # --- connections ----------------------------------------------------------------------------

    def authenticate(self, handshake: ServerHandshake, accept: Accept, transport: Transport) -> Accept | Reject:
        try:
            self.authenticator.check(accept.params, transport.peer)
        except ProtocolError as exc:
            return handshake.reject(accept.request_id, exc)
        return accept

    def hello_ok(self, connection: Connection, protocol: int) -> HelloOk:
        if connection.tracked:
            self._track(connection)
        return HelloOk(
            type="hello-ok", protocol=protocol,
            server=ServerInfo(version=self.version, conn_id=connection.conn_id,
                              commit=self.env.get("GIT_COMMIT") or None, host=socket.gethostname() or None),
            features=Features(methods=list(METHODS), events=list(EVENTS)),
            snapshot=Snapshot(
                presence=self.presence.entries(),
                health=self.health.summary if self.health.summary is not None else {},
                state_version=self.broadcaster.state_version(),
                uptime_ms=self.uptime_ms(),
                config_path=str(self.config.path) if self.config.path else None,
                state_dir=str(self.config.state_dir) if self.config.state_dir else None,
                session_defaults=SessionDefaults(default_agent_id=DEFAULT_AGENT_ID, main_key="main",
                                                 main_session_key=f"agent:{DEFAULT_AGENT_ID}:main",
                                                 scope="per-sender"),
            ),
            policy=Policy(max_payload=self.config.gateway.max_payload,
                          max_buffered_bytes=self.config.gateway.max_buffered_bytes,
                          tick_interval_ms=self.config.gateway.tick_interval_ms),
        )

    def _track(self, connection: Connection) -> None:
        params, client = connection.params, connection.params.client
        device_id = params.device.id if params.device else None
        connection.presence_key = device_id or client.instance_id or connection.conn_id
        self.presence.upsert(connection.presence_key, PresenceEntry(
            ts=wall_ms(), host=client.display_name or client.id,
            ip=None if connection.transport.local or is_loopback(connection.transport.peer) else connection.transport.peer,
            version=client.version, platform=client.platform, device_family=client.device_family,
            model_identifier=client.model_identifier, mode=client.mode, device_id=device_id,
            roles=[connection.session.role], scopes=sorted(connection.session.scopes) or None,
            instance_id=device_id or client.instance_id, reason="connect",
        ))
        self.broadcaster.presence_version += 1

    def register(self, connection: Connection) -> None:
        self.broadcaster.connections.add(connection)
        if connection.presence_key is not None:
            self.broadcast_presence(bump=False)
        self.health.request_refresh()

    def unregister(self, connection: Connection) -> None:
        self.broadcaster.connections.discard(connection)
        if connection.closing and connection.queue.statistics().queued_bytes and not self._stop_requested.is_set():
            self.stats.slow_consumers += 1
        if connection.presence_key is not None and self.presence.remove(connection.presence_key):
            self.broadcast_presence()
        if self._stop_requested.is_set() and not self.broadcaster.connections:
            self._all_closed.set()

    def broadcast_presence(self, *, bump: bool = True) -> None:
        if bump:
            self.broadcaster.presence_version += 1
        self.broadcaster.broadcast("presence", PresenceEvent(self.presence.entries()), droppable=True,
                                   with_state_version=True)

    # --- status ---------------------------------------------------------------------------------

    def uptime_ms(self) -> int:
        return int((trio.current_time() - self.started_at) * 1000)

    def gateway_status(self) -> GatewayStatus:
        return GatewayStatus(
            version=self.version, pid=os.getpid(), uptime_ms=self.uptime_ms(),
            connections=len(self.broadcaster.connections),
            errors=ErrorCounts(handler=self.stats.handler_errors, protocol=self.stats.protocol_errors,
                               auth=self.stats.auth_failures, slow_consumer=self.stats.slow_consumers),
        )

    def lane_statuses(self) -> list[LaneStatus]:
        # The agent runtime (its own issue) replaces these idle lanes with live queue statistics.
        return [LaneStatus(lane="main", queued=0, active=0, max_concurrent=4, completed=0, errors=0),
                LaneStatus(lane="cron", queued=0, active=0, max_concurrent=1, completed=0, errors=0)]


async def serve_gateway(config: Config, *, port: int | None = None, env: Mapping[str, str] | None = None,
                        task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run a gateway until cancelled or stopped; ``task_status.started(gateway)`` once it listens.

    Args:
        config: the loaded config; it must provide a token or password (``gateway.auth``, or
            ``CLAWDBOT_GATEWAY_TOKEN``/``CLAWDBOT_GATEWAY_PASSWORD`` in ``env``).
        port: overrides ``gateway.port`` (0 picks a free port).
    Raises:
        AuthSetupError: no secret is configured.
    """
    gateway = Gateway(config, env=env)
    await gateway.serve(port=port, task_status=task_status)


@asynccontextmanager
async def open_gateway(config: Config, *, port: int | None = None,
                       env: Mapping[str, str] | None = None) -> AsyncIterator[Gateway]:
    """Run a gateway for the duration of an ``async with`` block, inside the caller's task tree.

    Leaving the block stops it gracefully (shutdown event, clients closed 1012).
    """
    with collapse_single_exception_group():
        async with trio.open_nursery() as nursery:
            gateway: Gateway = await nursery.start(lambda task_status: serve_gateway(
                config, port=port, env=env, task_status=task_status))
            try:
                yield gateway
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE_SECONDS + 3):
                    await gateway.stop()
                nursery.cancel_scope.cancel()


__all__ += ["AuthSetupError"]

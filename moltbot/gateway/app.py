"""The Gateway: the root nursery, alive for the whole process, and the in-process restart.

Theory of operation. ``Gateway.serve`` opens the root nursery and starts, in order, each a supervised
child (``supervisor.py``) whose task is named after it:
- ``runtime``, the Runtime (``runtime.py``): everything built from the config;
- ``canvas``, the canvas host (``canvas/host.py``), a static file server on a port of its own, when enabled;
- ``listener``: hypercorn serving the ASGI app on one port; every new WebSocket is served by whichever
  Runtime is current (``current_runtime()`` waits while one is being replaced), so a client that
  reconnects during a restart is accepted as soon as the new Runtime is up;
- ``config-watch``, the config watcher, when the config has a file (hot reload: ``reload.py``).
Then it serves *requests* one at a time, received on one memory channel (``control.py``): restarts
(SIGUSR1, a restart-needing reload, ``schedule_restart``) and the stop; those that arrive while one is
served are taken together (restarts merged into one, a stop winning over them). A restart retires the
Runtime (runs finished, requests no longer acted on, its services stopped: ``Runtime.retire``), rebinds
the listener only if bind/port changed (the canvas host only if its settings did), and starts a new
Runtime from the new config, in the same process; then the old one's clients are sent ``shutdown`` and
1012, and its task ends once they have closed (bounded). New clients are served by the new Runtime
without waiting for a thousand close frames.

``serve_gateway`` is the service form (``await nursery.start(serve_gateway, config)`` returns the running
Gateway); ``open_gateway`` is the context-manager form for programs that embed the gateway.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._util import collapse_single_exception_group
from .._version import __version__
from ..canvas.host import CanvasHost, canvas_settings
from ..config.env import with_aliases
from ..config.load import ConfigError
from ..config.model import Config
from .auth import AuthSetupError, ResolvedAuth
from .binding import ListenerBinding
from .connection import serve_client
from .control import GatewayRequests, RestartRequest, StopRequest
from .embed import confine, embedded_state_dir
from .listener import resolve_bind_host
from .reload import ConfigReloader
from .runtime import Runtime
from .sentinel import consume_restart_sentinel
from .state import GatewayStats, ProcessState
from .supervisor import Child
from .transport import AsgiWebSocket

log = logging.getLogger("moltbot.gateway")

__all__ = ["AuthSetupError", "Gateway", "GatewayStats", "open_gateway", "serve_gateway"]

STOP_GRACE_SECONDS = 2.0
STOP_RUNS_GRACE_SECONDS = 1.5  # a stop must end within 5 s (the original's watchdog), restarts may wait longer
RESTART_EXPECTED_MS = 1500

class Gateway:
    """The running gateway. Create it with ``serve_gateway``/``open_gateway``, not directly."""

    def __init__(self, config: Config, *, env: Mapping[str, str] | None = None, port: int | None = None,
                 port_source: str | None = None, watch_config: bool = True) -> None:
        self.config = config
        env = with_aliases(os.environ if env is None else env)  # OPENCLAW_*/MOLTBOT_* names too
        if not (auth := ResolvedAuth.resolve(config.gateway.auth, env)).secret:
            raise AuthSetupError(f"gateway auth mode is {auth.mode}, but no {auth.mode} was configured "
                                 "(set gateway.auth.token or CLAWDBOT_GATEWAY_TOKEN)")
        # What outlives each Runtime: counters, queued system events, the last heartbeat.
        self.state = ProcessState(version=env.get("CLAWDBOT_VERSION") or __version__, env=env)
        self.runtime: Runtime | None = None
        self.canvas = CanvasHost()
        self._restart_done = trio.Event()
        # Config file writes by config.set/patch/apply are serialised (one wins, the other sees its base
        # hash go stale).
        self.config_lock = trio.Lock()
        self.reloader = ConfigReloader(self, watch=watch_config)  # hot reload of the config file
        # A port given at start (``--port``, ``CLAWDBOT_GATEWAY_PORT``) pins the listener; without one,
        # ``gateway.port`` is followed: a restart for a changed port rebinds (and the log says so).
        self._port_override = port
        # An embedded gateway's confinement (``embed.confine``), applied to every config it reloads too.
        self.confine: Callable[[Config], Config] | None = None
        self._port_source = port_source or ("the port argument" if port is not None else "gateway.port")
        self.on_listener_moved: Callable[[Gateway], None] | None = None  # run_gateway: lock record, console
        self._runtime_changed = trio.Event()
        self._replacing = False
        self.requests = GatewayRequests()  # restarts and the stop, served one at a time (``_serve_requests``)
        self._stopping = False  # the stop is being served: no longer accepting
        self._stopped = trio.Event()
        self._nursery: trio.Nursery | None = None
        # The root nursery's restartable children (the canvas host's is ``self.canvas.child``).
        # Serves the current Runtime; a new one per restart, the old one ending beside it (``_restart``).
        self.runtime_child = Child("runtime", _not_started)
        self.listener = ListenerBinding(self, pinned_port=port, grace=STOP_GRACE_SECONDS)

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket URL of the first bound address (``ws://127.0.0.1:<port>``)."""
        return self.urls[0].replace("http://", "ws://", 1).replace("https://", "wss://", 1)

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def urls(self) -> list[str]:
        """The bound addresses (``http://127.0.0.1:<port>``)."""
        return self.listener.urls

    @property
    def listening(self) -> trio.Event:
        """Set once the first listener is bound (``urls`` is known)."""
        return self.listener.listening

    def port_reason(self) -> str:
        """Which port is served and why, for the log: ``port 18789 from gateway.port``, or pinned."""
        if self._port_override is None:
            return f"port {self.port} from gateway.port"
        configured = self.config.gateway.port
        pinned = f"port {self.port} from {self._port_source}, which pins it"
        return pinned if configured == self.port else f"{pinned} (gateway.port in the file is {configured})"

    def uptime_ms(self) -> int:
        return self.state.uptime_ms()

    @property
    def env(self) -> Mapping[str, str]:
        return self.state.env

    @property
    def version(self) -> str:
        return self.state.version

    @property
    def stats(self) -> GatewayStats:
        return self.state.stats

    @property
    def system_events(self) -> list[str]:
        return self.state.system_events

    @property
    def pinned_port(self) -> int | None:
        """The port given at start (``--port``, ``CLAWDBOT_GATEWAY_PORT``, an embedder's), which pins the
        listener and the ports derived from it; None when ``gateway.port`` is followed."""
        return self._port_override

    async def serve_websocket(self, transport: AsgiWebSocket) -> None:
        """Serve an accepted WebSocket (the HTTP side's WS route) by the current Runtime until it closes."""
        await serve_client(await self.current_runtime(), transport)

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run until ``stop()``; report ``self`` once the port is bound."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._start_runtime(self.config)
                await self._apply_canvas(self.config)  # before clients can connect: hello-ok names its URL
                await self.listener.start(nursery, self.config)
                if self.reloader.watching:
                    await self.reloader.start(nursery)
                assert self.runtime is not None  # started above
                log.info("gateway listening on %s (auth: %s; %s)", self.url, self.runtime.authenticator.mode,
                         self.port_reason())
                task_status.started(self)
                await self._serve_requests()
                nursery.cancel_scope.cancel()
        finally:
            self._stopped.set()

    def request_stop(self, reason: str = "gateway stopping") -> None:
        self.requests.put(StopRequest(reason))

    async def stop(self, reason: str = "gateway stopping") -> None:
        """Stop gracefully (shutdown event, clients closed 1012) and wait until everything has ended."""
        self.request_stop(reason)
        await self._stopped.wait()

    def request_restart(self, reason: str, config: Config | None = None) -> None:
        """Restart in-process soon: with ``config``, or re-reading the config file. Merged if one is pending."""
        self.requests.put(RestartRequest(reason, config))

    def schedule_restart(self, *, delay_ms: int = 2000, reason: str | None = None) -> dict[str, Any]:
        """Restart after ``delay_ms`` (clamped 0..60000); answers the original's ScheduledRestart."""
        assert self._nursery is not None
        return self.requests.schedule_restart(self._nursery, delay_ms=delay_ms, reason=reason)

    def handle_sigusr1(self, name: str = "SIGUSR1") -> bool:
        """SIGUSR1 (or SIGUSR2): restart in-process unless external restarts are off (``commands.restart``
        is ``false``) and no restart was scheduled; whether it will."""
        return self.requests.restart_signal(name, self.config)

    @property
    def accepting(self) -> bool:
        """Whether new requests are served now (a Runtime that is neither draining nor being replaced)."""
        return self.runtime is not None and not self.runtime.draining and not self._replacing \
            and not self._stopping

    async def current_runtime(self) -> Runtime:
        """The Runtime new connections are served by; waits while one is being replaced."""
        while self.runtime is None or self.runtime.draining or self._replacing:
            await self._runtime_changed.wait()
        return self.runtime

    def _runtime_changed_now(self) -> None:
        self._runtime_changed.set()
        self._runtime_changed = trio.Event()

    async def _serve_requests(self) -> None:
        """Serve restart and stop requests until a stop (``control.GatewayRequests.next``)."""
        try:
            while True:
                request = await self.requests.next()
                if isinstance(request, StopRequest):
                    self._stopping = True
                    await self._shutdown(request.reason)
                    return
                await self._restart(request)
        finally:
            self.requests.close()

    # --- runtime and listener -------------------------------------------------------------------

    async def _start_runtime(self, config: Config) -> None:
        assert self._nursery is not None
        runtime = Runtime(self, config)
        await self.runtime_child.start(self._nursery, runtime.serve)
        if config.state_dir is not None:  # before clients can see the new Runtime
            try:
                payload = await trio.to_thread.run_sync(consume_restart_sentinel, config.state_dir)
            except OSError as exc:  # an unreadable state dir must not stop the Runtime now running
                log.warning("restart sentinel in %s unreadable: %s", config.state_dir, exc)
                payload = None
            if payload is not None:
                self.state.system_event("GatewayRestart:\n" + json.dumps(payload, indent=2))
        self.runtime, self.config = runtime, config
        self._replacing = False
        self._runtime_changed_now()

    async def _apply_canvas(self, config: Config) -> None:
        """Start, keep or rebuild the canvas host for ``config``; a failure is logged, never raised."""
        assert self._nursery is not None
        port = self._port_override if self._port_override is not None else config.gateway.port
        settings = canvas_settings(config, self.env, gateway_port=port, host=resolve_bind_host(config.gateway))
        await self.canvas.apply(self._nursery, settings)

    async def _rebind_listener(self, config: Config) -> None:
        assert self._nursery is not None
        if await self.listener.rebind(self._nursery, config) and self.on_listener_moved is not None:
            self.on_listener_moved(self)

    async def _restart(self, request: RestartRequest) -> None:
        started = trio.current_time()
        config = request.config
        if config is None and self.config.path is None:
            config = self.config  # an in-memory config (embedded gateway): restart on the same one
        if config is None:
            # New clients wait for the new Runtime instead of joining the old one for a moment.
            self._replacing = True
            try:
                config, digest = await trio.to_thread.run_sync(self.reloader.from_disk)
            except ConfigError as exc:
                log.error("restart skipped: %s has a problem, the gateway keeps its last good config: %s",
                          exc.path, "; ".join(exc.problems))
                self._replacing = False
                self._runtime_changed_now()
                return
            self.reloader.restarting_with(digest)
        assert config is not None
        self._replacing = True
        log.info("restarting in-process: %s", request.reason)
        retiring = self.runtime
        assert retiring is not None
        with trio.CancelScope(shield=True):
            await retiring.begin_drain("gateway restarting", runs_grace=self.config.gateway.restart_drain_ms / 1000)
            await retiring.retire()
        retiring_child, self.runtime_child = self.runtime_child, Child("runtime", _not_started)
        if self.listener.address_for(config) != self.listener.address:
            await retiring.send_off("gateway restarting", RESTART_EXPECTED_MS)
            with trio.CancelScope(shield=True):  # the old connections end before their listener does
                await retiring_child.wait_stopped()
            await self._rebind_listener(config)
        elif self._port_override is not None and config.gateway.port != self.config.gateway.port:
            log.warning("gateway.port is now %s in the file, but %s pins the listener: still serving port %s "
                        "(start without it to follow the file)", config.gateway.port, self._port_source,
                        self.port)
        await self._apply_canvas(config)
        try:
            await self._start_runtime(config)
        except (AuthSetupError, OSError) as exc:  # the old Runtime is gone: serve its config again
            log.error("restart with the new config failed (%s); serving the last good config again", exc)
            await self._start_runtime(self.config)
        # The old Runtime's clients are told to go once the new one accepts; its task ends when they have.
        await retiring.send_off("gateway restarting", RESTART_EXPECTED_MS)
        with trio.CancelScope(shield=True):
            await retiring_child.wait_stopped()
        self.stats.restarts += 1
        self._restart_done.set()
        self._restart_done = trio.Event()
        log.info("restart done in %.0f ms (%s); serving %s", (trio.current_time() - started) * 1000,
                 request.reason, self.port_reason())

    async def _shutdown(self, reason: str) -> None:
        assert self.runtime is not None
        with trio.CancelScope(shield=True):
            await self.runtime.drain(reason, None, runs_grace=STOP_RUNS_GRACE_SECONDS, grace=STOP_GRACE_SECONDS)
            await self.runtime_child.stop(f"gateway: {reason}")
        await self.canvas.stop()
        await self.listener.stop()

    # --- hot reload (``reload.py``) ----------------------------------------------------------------

    async def reload_config(self) -> str:
        """Re-read the config file and apply it by the reload rules; return the decision taken."""
        return await self.reloader.reload()

    def next_reload(self) -> trio.Event:
        """An event set when the next config reload has been decided (for tests and tools)."""
        return self.reloader.next_reload()

    def expect_restart_for(self, text: str) -> None:
        """A scheduled restart will apply this file text: the watcher's reload of it is skipped."""
        self.reloader.expect_restart_for(text)

    @property
    def watch_ready(self) -> trio.Event:
        return self.reloader.watch_ready

    @property
    def last_reload(self) -> str | None:
        return self.reloader.last_reload

    @property
    def watching_config(self) -> bool:
        return self.reloader.watching

    def next_restart(self) -> trio.Event:
        """An event set when the next in-process restart has finished (the new Runtime serves)."""
        return self._restart_done


async def _not_started(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    raise RuntimeError("a child of the gateway was started before its service was given")


async def serve_gateway(config: Config, *, port: int | None = None, port_source: str | None = None,
                        env: Mapping[str, str] | None = None, watch_config: bool = True,
                        task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run a gateway until cancelled or stopped; ``task_status.started(gateway)`` once it listens.

    Args:
        config: the loaded config; it must provide a token or password (``gateway.auth``, or
            ``CLAWDBOT_GATEWAY_TOKEN``/``CLAWDBOT_GATEWAY_PASSWORD`` in ``env``).
        port: overrides ``gateway.port`` and pins the listener to it (0 picks a free port, kept across
            restarts); without it a changed ``gateway.port`` moves the listener at the restart.
        port_source: where ``port`` came from, for the log (``--port``, ``CLAWDBOT_GATEWAY_PORT``).
        watch_config: hot-reload the config file (when the config has a path).
    Raises:
        AuthSetupError: no secret is configured.
    """
    gateway = Gateway(config, env=env, port=port, port_source=port_source, watch_config=watch_config)
    await gateway.serve(task_status=task_status)


@asynccontextmanager
async def open_gateway(config: Config, *, port: int | None = None, env: Mapping[str, str] | None = None,
                       watch_config: bool = False, state_dir: str | os.PathLike[str] | None = None,
                       canvas: bool | None = None) -> AsyncIterator[Gateway]:
    """Run a gateway for the duration of an ``async with`` block, inside the caller's task tree.

    Leaving the block stops it gracefully (shutdown event, clients closed 1012). Embedded gateways do not
    watch their config file unless asked (``watch_config=True``), and write only under their state dir:
    ``state_dir``, else the config's own (``config.state_dir``), else a temporary directory removed at the
    end; the agent workspace and the canvas root default to folders in it (``embed.py``). The canvas host
    (a second port) runs only when asked: ``canvas=True``, or a ``canvas_host`` section other than the
    default; ``canvas=False`` keeps it off whatever the config says.
    """
    with collapse_single_exception_group():
        async with embedded_state_dir(state_dir or config.state_dir) as directory:
            confined = functools.partial(confine, state_dir=directory, canvas=canvas)
            gateway = Gateway(confined(config), env=env, port=port, watch_config=watch_config)
            gateway.confine = confined
            async with trio.open_nursery() as nursery:
                await nursery.start(gateway.serve, name="gateway")
                try:
                    yield gateway
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE_SECONDS + 3):
                        await gateway.stop()
                    nursery.cancel_scope.cancel()

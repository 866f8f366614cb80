"""The browser control service as a Runtime child: its HTTP server on loopback, its profiles, its relay.

``BrowserService.serve`` runs for the Runtime's life and owns one supervised child (``gateway.supervisor
.Child`` named ``browser-control``) for the current config. Off (``browser.enabled: false``,
``CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER=1``, or a gateway on port 0 without an explicit
``browser.controlPort``, so embedded and test gateways never open a second port or Chromium by accident)
→ no child. On → one run of the child (``_serve_pass``) serves the control API on ``gateway port + 2`` (or
``browser.controlPort``) and the extension relay on control + 1, both bound to 127.0.0.1 only, and the
profile manager, in one nursery. A hot reload of ``browser.*`` (the reload rule
``restart-browser-control``) stops the child (every Chromium it started is stopped with it) and starts it
for the new config: only this service restarts. A run that cannot start (a busy port) or crashes is
logged, kept in ``last_error`` and run again with backoff by the child. The manager, the control API and
httpx (with psutil, the CDP client and a TLS context) are imported when a pass starts: a gateway whose
browser control is off never loads them.

Requests need the gateway's credential as ``Authorization: Bearer <token or password>``, checked by the
Runtime's authenticator (constant time, the same limiter); a ``Host`` that is not loopback is refused
(DNS rebinding), and so is any peer that is not loopback.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs
import trio

from .._backoff import Backoff
from ..config.ports import browser_ports
from ..gateway.auth import is_loopback
from ..gateway.httpserver import serve
from ..gateway.supervisor import Child
from ..protocol import ProtocolError
from .profiles import PortBook, resolve_profiles
from .relay import ExtensionRelay, bearer_of, host_of, loopback_server_config, serve_lifespan
from .ssrf import Guard
from .tool import register_browser_tool

if TYPE_CHECKING:
    from ..config.model import Config
    from .host import BrowserHost
    from .service import BrowserControl

log = logging.getLogger("moltbot.browser")

MAX_BODY = 1024 * 1024


@attrs.frozen
class ServiceSettings:
    control_port: int
    relay_port: int
    cdp_range: tuple[int, int]


def service_settings(config: Config, env: Mapping[str, str], gateway_port: int) -> ServiceSettings | None:
    """What the service runs with, or None when it is off (see the module docstring for when)."""
    section = config.browser
    if not section.enabled or env.get("CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER") == "1":
        return None
    if gateway_port == 0 and section.control_port is None:
        return None
    ports = browser_ports(gateway_port, control_port=section.control_port, cdp_range=section.cdp_port_range)
    return ServiceSettings(ports.control, ports.relay, ports.cdp_range)


class BrowserService:
    def __init__(self, runtime: BrowserHost) -> None:
        self.runtime = runtime
        self.control: BrowserControl | None = None
        self.url: str | None = None
        self.relay: ExtensionRelay | None = None  # the extension relay (relay.py) while a pass runs
        self.last_error: str | None = None
        self.settings: ServiceSettings | None = None
        self._nursery: trio.Nursery | None = None
        self._apply_lock = trio.Lock()
        # The supervised pass (issue 17's Child): crash → run again with backoff, stop/restart on reload.
        self.child = Child(
            "browser-control",
            self._serve_pass,
            backoff=Backoff(1.0, 30.0, jitter=0.2),
            on_change=self._child_changed,
        )
        self._started = trio.Event()
        register_browser_tool(runtime.tools, self)
        self.changed = trio.Event()  # set (and replaced) whenever a pass starts or ends

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def next_start(self) -> trio.Event:
        """Set the next time a pass is ready (for tests and tools)."""
        return self._started

    def restart_action(self, action: str) -> None:
        """The ``restart-browser-control`` hot action: apply the Runtime's new config to this service only."""
        if self._nursery is not None:
            self._nursery.start_soon(self._apply, "config reload: browser changed")

    def _canvas_origins(self) -> frozenset[tuple[str, int]]:
        """The canvas host's loopback origins while it runs: the guard lets the browser open them."""
        port = self.runtime.canvas_port
        return frozenset({("127.0.0.1", port), ("localhost", port)}) if port else frozenset()

    def _gateway_port(self) -> int:
        return self.runtime.gateway_port()

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Own the ``browser-control`` child until the Runtime ends (ready at once: a pass that cannot
        start yet is retried in the background, it never delays or fails the gateway)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._apply(None)
            task_status.started()
            await trio.sleep_forever()

    async def _apply(self, reason: str | None) -> None:
        """Start, restart or stop the child for the Runtime's current config (one change at a time)."""
        async with self._apply_lock:
            settings = service_settings(self.runtime.config, self.runtime.env, self._gateway_port())
            if self.child.active:
                await self.child.stop(reason or "browser control restarting")
            self.settings = settings
            if settings is None or self._nursery is None:
                self._changed()
                return
            try:
                await self.child.start(self._nursery, partial(self._serve_pass, settings))
            except Exception as exc:  # a pass that cannot start (a busy port) is retried, never fatal
                self.last_error = f"browser control service failed: {_reason(exc)}"
                log.warning("%s; retrying", self.last_error, exc_info=not isinstance(_first(exc), OSError))
                self.child.start_later(self._nursery, self.last_error)
                self._changed()

    def _child_changed(self, child: Child) -> None:
        if child.state in ("backoff", "failed") and child.last_error:
            self.last_error = f"browser control service failed: {child.last_error}"
        self._changed()

    async def _serve_pass(self, settings: ServiceSettings, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """One run of the service: relay, profile manager and control API until cancelled; every
        Chromium it started is stopped when it ends."""
        try:
            await self._serve_servers(settings, task_status)
        finally:
            self.control, self.url, self.relay = None, None, None

    async def _serve_servers(self, settings: ServiceSettings, task_status: Any) -> None:
        config = self.runtime.config
        state_dir = config.state_dir
        env = dict(self.runtime.env)
        specs = resolve_profiles(
            config.browser, state_dir=state_dir, relay_port=settings.relay_port or 1, env=env
        )
        book = await trio.to_thread.run_sync(
            PortBook, state_dir / "browser" / "ports.json" if state_dir else None, settings.cdp_range
        )
        no_sandbox = config.browser.no_sandbox if config.browser.no_sandbox is not None else os.geteuid() == 0
        import httpx

        from .._tls import client_ssl_context
        from .manager import BrowserManager
        from .service import BrowserControl

        async with httpx.AsyncClient(timeout=5.0, verify=client_ssl_context()) as client, trio.open_nursery() as nursery:
            relay = ExtensionRelay(self.runtime.authenticator)
            relay_url = await nursery.start(relay.serve, settings.relay_port)
            self.relay = relay
            specs = _point_extension_profiles(specs, relay_url, settings.relay_port)
            guard = Guard(config.browser.ssrf_policy, self._canvas_origins)
            manager = BrowserManager(
                config.browser,
                specs,
                book,
                client=client,
                no_sandbox=no_sandbox,
                relay_headers={"Authorization": f"Bearer {relay.local_token}"},
                guard=None if config.browser.ssrf_policy.allow_private_network else guard,
            )
            await nursery.start(manager.serve)
            self.control = BrowserControl(
                manager,
                guard,
                media_dir=state_dir / "browser" / "media" if state_dir else None,
                info={
                    "noSandbox": no_sandbox,
                    "attachOnly": config.browser.attach_only,
                    "executablePath": config.browser.executable_path,
                },
            )
            self.url = (await nursery.start(self._serve_http, settings.control_port))[0]
            self.control.info["controlUrl"] = self.url
            self.last_error = None
            log.info(
                "browser control listening on %s (relay %s, CDP ports %d-%d)",
                self.url,
                relay_url,
                *settings.cdp_range,
            )
            task_status.started(self.url)
            self._started.set()
            self._started = trio.Event()
            self._changed()

    async def _serve_http(self, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = loopback_server_config(port, "moltbot.browser.http")
        await serve(self._asgi, config, task_status=task_status)

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, body = await self._answer(scope, receive)
        data = json.dumps(body, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(data)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _answer(self, scope: dict[str, Any], receive: Any) -> tuple[int, Any]:
        peer = (scope.get("client") or ("", 0))[0]
        if not is_loopback(peer) or not is_loopback(host_of(scope)):  # a rebound page's Host is refused
            return 403, {"error": "the browser control service answers loopback clients only"}
        try:
            self.runtime.authenticator.verify(bearer_of(scope), peer, direct=True)
        except ProtocolError:
            return 401, {
                "error": "Unauthorized: send the gateway token (or password) as Authorization: Bearer"
            }
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                return 413, {"error": f"request body over {MAX_BODY} bytes"}
            if not message.get("more_body"):
                break
        try:
            parsed = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        control = self.control
        if control is None:
            return 503, {"error": "browser control service is restarting"}
        return await control.handle(scope["method"], scope["path"], query, parsed)


def _first(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    inner = _first(exc)
    if isinstance(inner, OSError):
        return f"cannot listen: {inner.strerror or inner}"
    return f"{type(inner).__name__}: {str(inner)[:200]}"


def _point_extension_profiles(specs: dict, relay_url: str, relay_port: int) -> dict:
    """Extension profiles without their own ``cdpUrl`` reach the relay where it really listens (port 0)."""
    base = relay_url.rstrip("/")
    return {
        name: attrs.evolve(spec, cdp_url=base)
        if spec.driver == "extension" and spec.cdp_url == f"http://127.0.0.1:{relay_port or 1}"
        else spec
        for name, spec in specs.items()
    }

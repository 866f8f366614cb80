"""The browser control service as a Runtime child: its HTTP server on loopback, its profiles, its relay.

``BrowserService.serve`` runs for the Runtime's life. Each pass reads the Runtime's current config: off
(``browser.enabled: false``, ``CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER=1``, or a gateway on port 0 without an
explicit ``browser.controlPort``, so embedded and test gateways never open a second port or Chromium by
accident) → it waits for a reload. On → one pass serves the control API on ``gateway port + 2`` (or
``browser.controlPort``) and the extension relay on control + 1, both bound to 127.0.0.1 only, and the
profile manager, in one nursery inside a cancel scope. A hot reload of ``browser.*`` (the reload rule
``restart-browser-control``) cancels that scope and the loop starts the next pass with the new config:
only this service restarts, and every Chromium it started is stopped first. A pass that fails (a busy
port) is logged, kept in ``last_error`` and retried with backoff.

Requests need the gateway's credential as ``Authorization: Bearer <token or password>``, checked by the
Runtime's authenticator (constant time, the same limiter); a ``Host`` that is not loopback is refused
(DNS rebinding), and so is any peer that is not loopback.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs
import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from .._tls import client_ssl_context
from ..config.ports import browser_ports
from ..gateway.auth import is_loopback
from ..protocol import ProtocolError
from .manager import BrowserManager
from .profiles import PortBook, resolve_profiles
from .relay import ExtensionRelay, serve_lifespan
from .service import BrowserControl
from .ssrf import Guard

if TYPE_CHECKING:
    from ..config.model import Config
    from ..gateway.runtime import Runtime

log = logging.getLogger("moltbot.browser")

MAX_BODY = 1024 * 1024
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


@attrs.frozen
class ServiceSettings:
    control_port: int
    relay_port: int
    cdp_range: tuple[int, int]


def service_settings(config: Config, env: dict[str, str], gateway_port: int) -> ServiceSettings | None:
    """What the service runs with, or None when it is off (see the module docstring for when)."""
    section = config.browser
    if not section.enabled or env.get("CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER") == "1":
        return None
    if gateway_port == 0 and section.control_port is None:
        return None
    ports = browser_ports(gateway_port, control_port=section.control_port, cdp_range=section.cdp_port_range)
    return ServiceSettings(ports.control, ports.relay, ports.cdp_range)


def _host_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    for key, value in headers:
        if key == b"host":
            host = value.decode("latin-1").strip()
            return host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    return None


class BrowserService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.control: BrowserControl | None = None
        self.url: str | None = None
        self.relay = None  # the extension relay (relay.py) while a pass runs
        self.last_error: str | None = None
        self.settings: ServiceSettings | None = None
        self._scope: trio.CancelScope | None = None
        self._reload = trio.Event()
        self._started = trio.Event()
        self.changed = trio.Event()  # set (and replaced) whenever a pass starts or ends

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def next_start(self) -> trio.Event:
        """Set the next time a pass is ready (for tests and tools)."""
        return self._started

    def restart_action(self, action: str) -> None:
        """The ``restart-browser-control`` hot action: cancel this pass; the loop starts the next one."""
        self._reload.set()
        if self._scope is not None:
            self._scope.cancel(reason="config reload: browser changed")

    def _canvas_origins(self) -> frozenset[tuple[str, int]]:
        """The canvas host's loopback origins while it runs: the guard lets the browser open them."""
        port = self.runtime.gateway.canvas.port
        return frozenset({("127.0.0.1", port), ("localhost", port)}) if port else frozenset()

    def _gateway_port(self) -> int:
        override = self.runtime.gateway._port_override  # the --port / embedded port pins the derived ones
        return override if override is not None else self.runtime.config.gateway.port

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run passes until the Runtime ends (ready at once: the service never delays the gateway)."""
        task_status.started()
        delays = iter(RETRY_DELAYS)
        while True:
            self._reload = trio.Event()
            self.settings = service_settings(
                self.runtime.config, self.runtime.gateway.env, self._gateway_port()
            )
            if self.settings is None:
                await self._reload.wait()
                continue
            failed = False
            with trio.CancelScope() as self._scope:
                try:
                    await self._serve_pass(self.settings)
                except (OSError, ProtocolError) as exc:
                    failed = True
                    self.last_error = f"browser control service failed: {exc}"
                    log.warning("%s", self.last_error)
            self._scope, self.control, self.url, self.relay = None, None, None, None
            self.settings = None
            self._changed()
            if failed and not self._reload.is_set():
                with trio.move_on_after(next(delays, RETRY_DELAYS[-1])):
                    await self._reload.wait()
            elif not failed:
                delays = iter(RETRY_DELAYS)

    async def _serve_pass(self, settings: ServiceSettings) -> None:
        config = self.runtime.config
        state_dir = config.state_dir
        env = dict(self.runtime.gateway.env)
        specs = resolve_profiles(
            config.browser, state_dir=state_dir, relay_port=settings.relay_port or 1, env=env
        )
        book = await trio.to_thread.run_sync(
            PortBook, state_dir / "browser" / "ports.json" if state_dir else None, settings.cdp_range
        )
        no_sandbox = config.browser.no_sandbox if config.browser.no_sandbox is not None else os.geteuid() == 0
        async with httpx.AsyncClient(timeout=5.0, verify=client_ssl_context()) as client, trio.open_nursery() as nursery:
            relay = ExtensionRelay(self.runtime.authenticator)
            relay_url = await nursery.start(relay.serve, settings.relay_port)
            self.relay = relay
            specs = _point_extension_profiles(specs, relay_url, settings.relay_port)
            manager = BrowserManager(
                config.browser,
                specs,
                book,
                client=client,
                no_sandbox=no_sandbox,
                relay_headers={"Authorization": f"Bearer {relay.local_token}"},
            )
            await nursery.start(manager.serve)
            self.control = BrowserControl(
                manager,
                Guard(config.browser.ssrf_policy, self._canvas_origins),
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
            self._started.set()
            self._started = trio.Event()
            self._changed()

    async def _serve_http(self, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = HypercornConfig()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("moltbot.browser.http")
        config.graceful_timeout = 1.0
        config.keep_alive_timeout = 5.0
        await serve(self._asgi, config, task_status=task_status)  # type: ignore[arg-type]

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
        host = _host_of(scope.get("headers", []))
        if not is_loopback(peer) or (host is not None and not is_loopback(host)):
            return 403, {"error": "the browser control service answers loopback clients only"}
        token = None
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                token = rest.strip() if scheme.lower() == "bearer" else None
        try:
            self.runtime.authenticator.verify(token, peer, direct=True)
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


def _point_extension_profiles(specs: dict, relay_url: str, relay_port: int) -> dict:
    """Extension profiles without their own ``cdpUrl`` reach the relay where it really listens (port 0)."""
    base = relay_url.rstrip("/")
    return {
        name: attrs.evolve(spec, cdp_url=base)
        if spec.driver == "extension" and spec.cdp_url == f"http://127.0.0.1:{relay_port or 1}"
        else spec
        for name, spec in specs.items()
    }

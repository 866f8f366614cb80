"""How CLI commands reach the gateway: the target (URL and credentials) and one connection per command.

Resolution follows the reference's ``callGateway``: URL = ``--url`` → ``gateway.remote.url`` when
``gateway.mode`` is ``remote`` → ``ws[s]://127.0.0.1:<port>`` (port: ``CLAWDBOT_GATEWAY_PORT``, then
``gateway.port``; ``wss`` when ``gateway.tls.enabled``). Token = ``--token`` → in remote mode
``gateway.remote.token``, else ``CLAWDBOT_GATEWAY_TOKEN`` → ``gateway.auth.token``. Password =
``--password`` → ``CLAWDBOT_GATEWAY_PASSWORD`` → the remote or local config password. The CLI connects
as client ``cli``/mode ``cli`` with the operator scopes below and signs with the machine's device
identity; a device token from an earlier ``hello-ok`` is used when no shared token is found.

Where the token came from is kept, because "token mismatch" is the reference's most reported confusion
(a service installed with one token, a UI holding another): the error names the source and what to check.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import attrs
import click
import trio

from ..client import GatewayClient, GatewayClosed, open_gateway_client
from ..config.load import ConfigError, load_config
from ..config.model import Config
from ..protocol import RemoteProtocolError
from .errors import command
from .output import Output, spinner

CLI_SCOPES = ["operator.admin", "operator.approvals", "operator.pairing"]
T = TypeVar("T")


def connection_options(fn: Callable) -> Callable:
    @click.option("--url", help="Gateway WebSocket URL (default ws://127.0.0.1:<port>).")
    @click.option("--token", help="Gateway token (default CLAWDBOT_GATEWAY_TOKEN, then gateway.auth.token).")
    @click.option("--password", help="Gateway password (default CLAWDBOT_GATEWAY_PASSWORD).")
    @click.option("--timeout", type=click.IntRange(1), default=10_000, show_default=True, help="Milliseconds.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@attrs.frozen
class Target:
    url: str
    token: str | None = attrs.field(repr=False)
    password: str | None = attrs.field(repr=False)
    token_source: str | None
    config: Config


def load_cli_config() -> Config:
    """The config; while the file does not load but this profile's gateway runs (on its last good config),
    enough of it to reach that gateway (``running_gateway_config``), with a note, so ``status`` can show the
    gateway's side of the error and confirm the reload once it is fixed."""
    try:
        return load_config(env=os.environ)
    except ConfigError as exc:
        fallback = running_gateway_config(exc)
        if fallback is None:
            raise click.ClickException(f"{exc}\n(run `{command('doctor')}` to check the config)") from None
        problems = "; ".join(exc.problems)
        click.echo(f"note: {exc.path} does not load ({problems[:300]}); reaching this profile's running gateway on "
                   f"port {fallback.gateway.port} (it keeps its last good config). Fix it with "
                   f"`{command('config set PATH VALUE')}`", err=True)
        return fallback


def running_gateway_config(exc: ConfigError) -> Config | None:
    """A config with just the port this profile's running gateway serves (its lock record) and the token or
    password the file still has, or None when no gateway of this config runs (the error then stands)."""
    from ..config.load import parse_config, parse_json5
    from ..config.paths import resolve_state_dir
    from ..store.lock import lock_holder, lock_path

    if exc.path is None:
        return None
    held, record = lock_holder(lock_path(exc.path))
    if not held or not isinstance(record.get("port"), int):
        return None
    try:
        raw = parse_json5(exc.path.read_text("utf-8"))
    except (OSError, ValueError):
        raw = {}
    gateway: dict[str, Any] = raw["gateway"] if isinstance(raw, dict) and isinstance(raw.get("gateway"), dict) else {}
    auth: dict[str, Any] = gateway["auth"] if isinstance(gateway.get("auth"), dict) else {}
    secrets = {key: value for key in ("token", "password")
               if isinstance(value := auth.get(key), str) and value and "${" not in value}
    try:
        return parse_config({"gateway": {"mode": "local", "port": record["port"], "auth": secrets}}, path=exc.path,
                            state_dir=resolve_state_dir(os.environ))
    except ConfigError:
        return None


def local_url(config: Config, env: Any = os.environ) -> str:
    port = env.get("CLAWDBOT_GATEWAY_PORT") or str(config.gateway.port)
    return f"{'wss' if config.gateway.tls.enabled else 'ws'}://127.0.0.1:{port}"


def websocket_url(url: str, *, note: bool = True) -> tuple[str, str | None]:
    """``url`` as a WebSocket URL, and the token its fragment carried (``#token=…``), if any.

    The dashboard's address is what users have at hand (``moltbot dashboard`` prints it): the gateway serves
    HTTP and WebSocket on one port, so ``http(s)://`` maps to ``ws(s)://`` with a note. Anything else that
    is not ``ws(s)://`` is a usage error.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("ws", "wss") and parts.netloc:
        return url.strip(), None
    if scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not a gateway URL: use ws://HOST:PORT (or wss://)",
                                 param_hint="--url")
    mapped = urlunsplit(("ws" if scheme == "http" else "wss", parts.netloc, parts.path, "", ""))
    if note:
        click.echo(f"note: --url {scheme}://… is the dashboard's address; connecting to {mapped}", err=True)
    fragment_token = parse_qs(parts.fragment).get("token", [None])[0]
    return mapped, fragment_token


def resolve(url: str | None, token: str | None, password: str | None) -> Target:
    """The gateway URL and credentials from flags, environment and config (module docstring)."""
    env = os.environ
    config = load_cli_config()
    gateway = config.gateway
    remote = gateway.mode == "remote"
    source: str | None = "--token" if token else None
    if url is None:
        url = gateway.remote.url if remote and gateway.remote.url else local_url(config, env)
    else:
        url, fragment_token = websocket_url(url)
        if fragment_token and not token:
            token, source = fragment_token, "the #token= of --url"
    if not token:
        if remote:
            token, source = gateway.remote.token, "gateway.remote.token"
        elif env.get("CLAWDBOT_GATEWAY_TOKEN"):
            token, source = env["CLAWDBOT_GATEWAY_TOKEN"], "CLAWDBOT_GATEWAY_TOKEN"
        else:
            token, source = gateway.auth.token, f"gateway.auth.token in {config.path}"
    if not password:
        password = env.get("CLAWDBOT_GATEWAY_PASSWORD") or (gateway.remote.password if remote
                                                            else gateway.auth.password)
    return Target(url=url, token=token or None, password=password or None,
                  token_source=source if token else None, config=config)


def resolve_target(url: str | None, token: str | None, password: str | None) -> tuple[str, str | None, str | None]:
    target = resolve(url, token, password)
    return target.url, target.token, target.password


def _identity() -> tuple[Any, Any]:
    """The CLI's device identity and its device-token store (``moltbot.devices.identity``)."""
    from ..config.paths import resolve_state_dir
    from ..devices.identity import DeviceAuthStore, identity_path, load_or_create_identity

    identity = load_or_create_identity(identity_path(os.environ))
    return identity, DeviceAuthStore(resolve_state_dir(os.environ) / "identity" / "device-auth.json")


@attrs.define
class Session:
    """One command's way to the gateway: open a connection, run something on it, report failures."""

    target: Target
    out: Output
    timeout_ms: int

    @classmethod
    def from_options(cls, options: dict[str, Any], out: Output | None = None) -> Session:
        target = resolve(options.get("url"), options.get("token"), options.get("password"))
        return cls(target, out or Output(as_json=bool(options.get("as_json"))), options.get("timeout") or 10_000)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``open_gateway_client`` / ``open_reconnecting_client`` (blocking: identity file)."""
        identity, tokens = _identity()
        token = self.target.token or (None if self.target.password else tokens.load(identity.device_id, "operator"))
        return {"token": token, "password": self.target.password, "client_id": "cli", "mode": "cli",
                "scopes": CLI_SCOPES, "device": identity, "connect_timeout": self.timeout_ms / 1000}

    def remember_device_token(self, client: GatewayClient) -> None:
        auth = client.hello.auth
        if auth is not None:
            identity, tokens = _identity()
            tokens.store(identity.device_id, "operator", auth.device_token, list(auth.scopes))

    def run(self, fn: Callable[[GatewayClient], Awaitable[T]], *, waiting: str | None = "Waiting for the gateway") -> T:
        """Connect, ``await fn(client)``, return its result; on failure print why and exit 1.

        The ``--timeout`` bounds connect and ``fn`` together. ``waiting`` is the spinner's text (``None``:
        ``fn`` shows its own progress).
        """
        try:
            return self.attempt(fn, waiting=waiting)
        except (RemoteProtocolError, GatewayClosed, trio.TooSlowError) as exc:
            self.fail(exc)

    def attempt(self, fn: Callable[[GatewayClient], Awaitable[T]], *, waiting: str | None = None) -> T:
        """Like ``run`` but raising ``RemoteProtocolError``/``GatewayClosed``/``trio.TooSlowError``."""
        kwargs = self.connect_kwargs()

        async def main() -> T:
            with trio.fail_after(self.timeout_ms / 1000):
                async with spinner(waiting) if waiting else nullcontext():
                    async with open_gateway_client(self.target.url, **kwargs) as client:
                        await trio.to_thread.run_sync(self.remember_device_token, client)
                        return await fn(client)

        return trio.run(main)

    def call(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        return self.run(lambda client: client.call(method, params), **kwargs)

    def fail(self, exc: BaseException) -> NoReturn:
        """Print what went wrong (and what to do about it) and exit 1."""
        self.out.error(describe_failure(exc, self.target, self.timeout_ms))
        for hint in failure_hints(exc, self.target):
            self.out.note(f"hint: {hint}", style="yellow")
        raise SystemExit(1)


def describe_failure(exc: BaseException, target: Target, timeout_ms: int) -> str:
    if isinstance(exc, RemoteProtocolError):
        return f"gateway error: {exc.code}: {exc.message}"
    if isinstance(exc, GatewayClosed):
        return f"gateway unreachable at {target.url}: {exc.reason if exc.code is None and exc.reason else exc}"
    return f"gateway at {target.url} did not answer within {timeout_ms} ms"


def failure_hints(exc: BaseException, target: Target) -> list[str]:
    if isinstance(exc, GatewayClosed) and exc.code is None:
        return [f"is the gateway running? Start it with `{command('gateway')}` (or check `{command('gateway status')}`)"]
    if not isinstance(exc, RemoteProtocolError):
        return []
    message = exc.message
    if "token missing" in message:
        return ["no gateway token was found: pass --token, set CLAWDBOT_GATEWAY_TOKEN, or run "
                f"`{command('setup')}`"]
    if "token mismatch" in message:
        hints = [f"the token sent came from {target.token_source}; the gateway uses its own config's "
                 "gateway.auth.token (or the CLAWDBOT_GATEWAY_TOKEN of its own environment)"]
        config_token = target.config.gateway.auth.token
        if target.token_source == "CLAWDBOT_GATEWAY_TOKEN" and config_token and config_token != target.token:
            hints.append(f"CLAWDBOT_GATEWAY_TOKEN in this shell differs from gateway.auth.token in "
                         f"{target.config.path}: unset it, or make them equal")
        hints.append(f"`{command('doctor')}` compares the tokens it can see")
        return hints
    if "password" in message:
        return ["pass --password or set CLAWDBOT_GATEWAY_PASSWORD"]
    if exc.code == "FORBIDDEN" or message.startswith("missing scope"):
        details = exc.details if isinstance(exc.details, dict) else {}
        scope = details.get("missingScope") or message.removeprefix("missing scope:").strip()
        return [f"the gateway did not grant this connection {scope}: the CLI asks for "
                f"{', '.join(CLI_SCOPES)}; a paired device is held to its approved scopes (approve the "
                "upgrade on the gateway's machine), and a device-less client keeps them only as cli on loopback"]
    if message == "pairing required":
        request_id = (exc.details or {}).get("requestId") if isinstance(exc.details, dict) else None
        return ["approve this device on the gateway's machine: "
                + command(f"devices approve {request_id or '<requestId>'}")]
    return []

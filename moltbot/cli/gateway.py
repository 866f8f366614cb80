"""``moltbot gateway``: run the gateway in the foreground; ``moltbot gateway call``: one RPC.

The gateway's own modules (hypercorn, quart, the runtime) are imported when the gateway is run, not when
the command line is parsed: every other ``moltbot`` command starts faster for it.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any, cast

import attrs
import click
import trio

from .._util import importing
from ..config.load import ConfigError, generate_token, load_config, store_gateway_token
from ..config.model import Config
from ..config.profiles import apply_profile, dev_config, profile_from_env
from ..gateway.auth import ResolvedAuth, is_loopback
from ..store.atomic import write_atomic
from ..store.lock import GatewayLockError, acquire_gateway_lock
from .base import LazyCommand, LazyGroup
from .errors import command
from .remote_access import apply_tailscale_flags, check_remote_access, discover_tailnet, run_with_tailscale


def _service(attr: str, summary: str) -> LazyCommand:
    return LazyCommand("moltbot.cli.service", attr, summary)


# ``moltbot gateway`` itself is defined here; its subcommands are imported when they run (base.py): running
# the gateway loads no client (``call``) nor service code.
SUBCOMMANDS = {
    "call": LazyCommand("moltbot.cli.gateway_call", "gateway_call", "Call one gateway METHOD and print its JSON result."),
    "discover": LazyCommand("moltbot.cli.devices", "discover_command",
                            "Find gateways advertising _moltbot-gw._tcp on the LAN (mDNS)."),
    "install": _service("install_command", "Install the gateway as a user service (systemd user unit / launchd "
                        "agent) and start it."),
    "uninstall": _service("uninstall_command", "Stop and remove the gateway service of this profile."),
    "start": _service("start_command", "Start the installed gateway service."),
    "stop": _service("stop_command", "Stop the gateway service (and check that its port is free)."),
    "restart": _service("restart_command", "Restart the gateway service."),
    "status": _service("service_status_command",
                       "The service manager's view of the gateway service, and a live probe of the gateway."),
}


def prepare_config(config: Config, *, port: int | None, bind: str | None, token: str | None,
                   password: str | None, auth_mode: str | None,
                   env: dict[str, str] | os._Environ) -> tuple[Config, int, str]:
    """Apply command-line overrides; make sure a secret exists (generating and storing a token if none).

    Returns the config, the port and where the port came from (``--port``, ``CLAWDBOT_GATEWAY_PORT`` or
    ``gateway.port``): only the first two pin the listener; ``gateway.port`` is followed across reloads.

    Raises:
        click.ClickException: a non-loopback bind without a configured secret, or a bad bind.
    """
    from ..gateway.listener import BindError, resolve_bind_host

    gateway = config.gateway
    auth = gateway.auth
    if token:
        env["CLAWDBOT_GATEWAY_TOKEN"] = token
        auth = attrs.evolve(auth, token=token)
    if password:
        auth = attrs.evolve(auth, password=password)
    if auth_mode:
        auth = attrs.evolve(auth, mode=cast(Any, auth_mode))  # click.Choice of the modes
    gateway = attrs.evolve(gateway, auth=auth, bind=cast(Any, bind) or gateway.bind)
    config = attrs.evolve(config, gateway=gateway)
    env_port = env.get("CLAWDBOT_GATEWAY_PORT")
    source = "--port"
    if port is None and env_port:
        if not env_port.isdigit() or int(env_port) > 65535:
            raise click.ClickException(f"CLAWDBOT_GATEWAY_PORT is not a port number: {env_port!r}")
        port, source = int(env_port), "CLAWDBOT_GATEWAY_PORT"
    if port is None:
        port, source = gateway.port, "gateway.port"
    try:
        host = resolve_bind_host(gateway, warn=False)
    except BindError as exc:
        raise click.ClickException(str(exc)) from None
    resolved = ResolvedAuth.resolve(gateway.auth, env)
    if not resolved.secret and not is_loopback(host):
        fix = ("set gateway.auth.password or CLAWDBOT_GATEWAY_PASSWORD, or pass --password"
               if resolved.mode == "password" else
               "set gateway.auth.token or gateway.auth.password, or pass --token")
        raise click.ClickException(f"refusing to bind gateway to {host}:{port} without auth ({fix})")
    check_remote_access(gateway, host, port, resolved.mode)  # Funnel/Serve refusals, the clear-text warning
    if not resolved.secret:
        if resolved.mode == "password":
            raise click.ClickException("gateway auth mode is password, but no password was configured "
                                       "(set gateway.auth.password or CLAWDBOT_GATEWAY_PASSWORD)")
        if config.path is None:
            raise click.ClickException("no gateway token configured and no config file to store one in")
        stored = store_gateway_token(config, generate_token(), env=dict(env))
        config = attrs.evolve(stored, gateway=attrs.evolve(stored.gateway, bind=gateway.bind))
        click.echo(f"Generated a gateway token and stored it in {config.path} (gateway.auth.token, mode 0600).\n"
                   "Clients on this machine find it there; print it with: " + command("config get gateway.auth.token"),
                   err=True)
    return config, port, source


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@click.group("gateway", cls=LazyGroup, lazy=SUBCOMMANDS, invoke_without_command=True)
@click.option("--port", type=click.IntRange(0, 65535),
              help="Port, pinned for this run (default: CLAWDBOT_GATEWAY_PORT, gateway.port, 18789).")
@click.option("--bind", type=click.Choice(["loopback", "lan", "tailnet", "auto", "custom"]), help="Bind mode.")
@click.option("--token", help="Shared token (also sets CLAWDBOT_GATEWAY_TOKEN for this process).")
@click.option("--password", help="Shared password.")
@click.option("--auth", "auth_mode", type=click.Choice(["token", "password"]), help="Auth mode.")
@click.option("--allow-unconfigured", is_flag=True, help="Start even without gateway.mode=local (on defaults).")
@click.option("--dev", is_flag=True, help="Use the dev profile (writes a dev config if there is none).")
@click.option("--force", is_flag=True,
              help="Replace this profile's running gateway (never another profile's or another program).")
@click.option("--verbose", is_flag=True, help="Mirror every log event to the console.")
@click.option("--tailscale", "tailscale_mode", type=click.Choice(["off", "serve", "funnel"]),
              help="Publish the port with tailscale serve (tailnet) or funnel (internet) at start.")
@click.option("--tailscale-reset-on-exit", is_flag=True, help="Undo tailscale serve/funnel when the gateway stops.")
@click.option("--watch", is_flag=True, help="Development: restart the gateway process when a package file changes.")
@click.option("--watch-path", "watch_paths", multiple=True, type=click.Path(exists=True),
              help="With --watch: watch this path too (repeatable).")
@click.pass_context
def gateway_group(ctx: click.Context, port: int | None, bind: str | None, token: str | None, password: str | None,
                  auth_mode: str | None, allow_unconfigured: bool, dev: bool, force: bool, verbose: bool,
                  tailscale_mode: str | None, tailscale_reset_on_exit: bool, watch: bool,
                  watch_paths: tuple[str, ...]) -> None:
    """Run the gateway in the foreground (Ctrl-C or SIGTERM stops it; SIGUSR1 or SIGUSR2 restarts it
    in-process unless commands.restart is false).

    The port: --port, else CLAWDBOT_GATEWAY_PORT, else gateway.port; only gateway.port is followed when
    the file changes (the other two pin it).
    """
    if ctx.invoked_subcommand is not None:
        return
    if watch:
        from .watch import run_watch

        sys.exit(run_watch(sys.argv[1:], watch_paths))
    with importing():
        from ..gateway.logfile import configure_logging
        from ..gateway.signals import run_gateway

    env = os.environ
    if dev:
        apply_profile("dev", env)
    try:
        config = load_config(env=env)
        assert config.path is not None  # load_config always names the file it read (or would read)
        if env.get("CLAWDBOT_PROFILE") == "dev" and not config.path.exists():
            write_atomic(config.path, json.dumps(dev_config(env), indent=2) + "\n", mode=0o600)
            click.echo(f"Wrote a dev config to {config.path}", err=True)
            config = load_config(env=env)
    except ConfigError as exc:
        _fail(str(exc))
    for warning in config.warnings:
        click.echo(f"config warning: {warning}", err=True)
    if config.gateway.mode != "local" and not allow_unconfigured:
        _fail(f"gateway.mode is not \"local\" in {config.path}: run `{command('setup')}` first, "
              "or pass --allow-unconfigured to start on defaults")
    config = apply_tailscale_flags(config, tailscale_mode, tailscale_reset_on_exit)
    discover_tailnet(config, bind, env)
    config, port, port_source = prepare_config(config, port=port, bind=bind, token=token, password=password,
                                               auth_mode=auth_mode, env=env)
    # Again: a first start re-reads the file it stored the new token in.
    config = apply_tailscale_flags(config, tailscale_mode, tailscale_reset_on_exit)
    profile = profile_from_env(env) or "default"
    if force:
        _force(port, config, profile)
    assert config.path is not None
    try:
        lock = acquire_gateway_lock(config.path, env=env, wait_seconds=2.0 if force else 0.0)
    except GatewayLockError as exc:
        _fail(f"{exc}\nStop it first" + (" (it outlived --force)." if force else
                                         f" (or use --force to replace this profile's gateway: `{command('gateway --force')}`)."))
    lock.update(profile=profile, portSource=port_source)
    log_path = configure_logging(config, verbose=verbose, env=dict(env))

    def announce(gateway) -> None:
        lock.update(port=gateway.port)
        canvas = f"; canvas {gateway.canvas.url}/__moltbot__/canvas/" if gateway.canvas.url else ""
        click.echo(f"moltbot gateway listening on {gateway.url} (pid {os.getpid()}; log {log_path}{canvas}); "
                   "Ctrl-C stops it", err=True)

    pinned = None if port_source == "gateway.port" else port

    async def run(on_listening) -> None:
        def started(gateway) -> None:
            announce(gateway)
            if on_listening is not None:
                on_listening(gateway.port)

        await run_gateway(config, port=pinned, port_source=port_source, env=dict(env), on_started=started)

    try:
        trio.run(run_with_tailscale(run, config, env))
    except (OSError, BaseExceptionGroup) as exc:
        if not _address_in_use(exc):
            raise
        _fail(f"port {port} is already in use: is another gateway running? (try --port; "
              f"`{command('gateway --force')}` replaces only this profile's own gateway)")
    finally:
        lock.release()


def _force(port: int, config: Config, profile: str) -> None:
    """Stop this profile's running gateway (and only it); refuse, stopping nothing, if another process
    serves ``port``."""
    from ..gateway.force import ForceRefused, plan_force, stop_gateway, wait_port_free

    assert config.path is not None  # from load_config
    try:
        own = plan_force(port, config.path, profile)
        if own is not None:
            how = stop_gateway(own, config.path)
            where = f" on port {own['port']}" if own.get("port") else ""
            click.echo(f"--force: stopped this profile's gateway (pid {own['pid']}{where}) with SIG{how}", err=True)
    except ForceRefused as exc:
        _fail(str(exc))
    if port and not wait_port_free(port):
        _fail(f"--force: port {port} is still in use after this profile's gateway stopped")


def _address_in_use(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_address_in_use(inner) for inner in exc.exceptions)
    return isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE

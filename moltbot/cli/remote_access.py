"""``moltbot gateway``'s remote-access options: ``--tailscale``, ``--tailscale-reset-on-exit``, the tailnet
bind, and the refusals and the warning a bind beyond loopback gets.

Refusals (the original's startup rules): Funnel without password auth (the public internet
would meet a token-less login otherwise), and Serve/Funnel with a bind that is not loopback (Serve proxies
to 127.0.0.1; a gateway also listening elsewhere is reachable around it). A non-loopback bind without a
secret is refused by ``prepare_config`` itself. A bind beyond loopback without TLS or Tailscale starts, with
one warning naming the fix (``tailscale.bind.bind_warning``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, cast

import attrs
import click
import trio

from ..config.model import Config, GatewayConfig


def apply_tailscale_flags(config: Config, mode: str | None, reset_on_exit: bool) -> Config:
    """``--tailscale`` and ``--tailscale-reset-on-exit`` over ``gateway.tailscale``."""
    tailscale = config.gateway.tailscale
    if mode is not None:
        tailscale = attrs.evolve(tailscale, mode=cast(Any, mode))  # click.Choice of the modes
    if reset_on_exit:
        tailscale = attrs.evolve(tailscale, reset_on_exit=True)
    return attrs.evolve(config, gateway=attrs.evolve(config.gateway, tailscale=tailscale))


def check_remote_access(gateway: GatewayConfig, host: str, port: int, auth_mode: str) -> None:
    """Refuse what must not start; warn (once, on stderr) about a bind that exposes clear text.

    Raises:
        click.ClickException: Funnel without password auth, or Serve/Funnel beyond loopback.
    """
    from ..gateway.auth import is_loopback
    from ..tailscale.bind import bind_warning

    mode = gateway.tailscale.mode
    if mode == "funnel" and auth_mode != "password":
        raise click.ClickException(
            "refusing tailscale funnel without password auth: Funnel publishes the gateway to the whole "
            "internet (set gateway.auth.mode to password with gateway.auth.password, or pass "
            "--auth password --password …)")
    if mode != "off" and not is_loopback(host):
        raise click.ClickException(
            f"refusing tailscale {mode} with the gateway bound to {host}: Serve and Funnel proxy to loopback, "
            "so keep gateway.bind loopback (the default) or use --tailscale off")
    warning = bind_warning(gateway, host)
    if warning is not None:
        click.echo(warning, err=True)


def discover_tailnet(config: Config, bind: str | None, env: dict[str, str] | os._Environ) -> None:
    """For ``gateway.bind: tailnet`` (or ``--bind tailnet``): find the tailnet address before the gateway
    binds (tailscaled's status, then ``tailscale ip -4``, then the interfaces) and say where it came from."""
    if (bind or config.gateway.bind) != "tailnet":
        return
    from ..tailscale.bind import discover_for
    from ..tailscale.exposure import find_cli

    address, source = trio.run(discover_for, config.gateway, find_cli(env))
    if address is not None:  # none: the listener's fallback warning says why, once (``tailnet_host``)
        click.echo(f"tailnet address {address} (from {source})", err=True)


def run_with_tailscale(run: Callable[[Callable[[int], None] | None], Awaitable[None]], config: Config,
                       env: dict[str, str] | os._Environ) -> Callable[[], Awaitable[None]]:
    """The gateway's main coroutine function, with ``tailscale serve|funnel`` for its port when
    ``gateway.tailscale.mode`` asks (``run(on_listening)`` runs the gateway; None: no Tailscale)."""
    tailscale = config.gateway.tailscale
    if tailscale.mode == "off":
        return lambda: run(None)
    from ..tailscale import socket_path
    from ..tailscale.exposure import Exposure, find_cli, run_exposed

    exposure = Exposure(mode=tailscale.mode, reset_on_exit=tailscale.reset_on_exit,
                        socket=socket_path(config.gateway), cli=find_cli(env))
    return lambda: run_exposed(run, exposure, report=lambda line: click.echo(line, err=True))

"""``moltbot doctor``'s exposure check: who can reach the gateway with the current bind and Tailscale settings.

One finding explains the exposure in words (``tailscale.bind.exposure_summary``) and grades it: ``ok`` for
loopback or the tailnet, ``warn`` for a bind beyond loopback without TLS (the token crosses the network in
clear text), ``fail`` for what the gateway refuses to start with (Funnel without password auth, Serve or
Funnel beyond loopback, a bind beyond loopback without a secret). With Tailscale identity auth or
Serve/Funnel on, tailscaled is asked whether it answers (and the CLI looked for), so a broken setup shows
here rather than as refused tailnet clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from .doctor import Context, Finding


def check_exposure(ctx: Context) -> list[Finding]:
    from ..gateway.auth import ResolvedAuth, is_loopback
    from ..gateway.listener import BindError, resolve_bind_host
    from ..tailscale import allow_tailscale, socket_path
    from ..tailscale.bind import discover_for, exposure_summary, on_tailnet
    from ..tailscale.exposure import find_cli
    from .doctor import Finding

    if ctx.config is None:
        return [Finding("exposure", "skip", "no config")]
    gateway = ctx.config.gateway
    if gateway.bind == "tailnet":
        trio.run(discover_for, gateway, find_cli(ctx.env))
    try:
        host = resolve_bind_host(gateway, warn=False)
    except BindError as exc:
        return [Finding("exposure", "fail", str(exc), "fix gateway.bind / gateway.customBindHost")]
    auth = ResolvedAuth.resolve(gateway.auth, ctx.env)
    identity = allow_tailscale(gateway, ctx.env)
    detail = "; ".join(exposure_summary(gateway, host, secret=bool(auth.secret), allow_tailscale=identity))
    mode = gateway.tailscale.mode
    findings = []
    if mode == "funnel" and auth.mode != "password":
        findings.append(Finding("exposure", "fail", detail + "; the gateway refuses Funnel without password auth",
                                "set gateway.auth.mode to password (and gateway.auth.password)"))
    elif mode != "off" and not is_loopback(host):
        findings.append(Finding("exposure", "fail", detail + f"; the gateway refuses tailscale {mode} unless "
                                "bound to loopback", "set gateway.bind to loopback"))
    elif not is_loopback(host) and not auth.secret:
        findings.append(Finding("exposure", "fail", detail, "set gateway.auth.token (moltbot doctor --fix)"))
    elif not is_loopback(host) and not gateway.tls.enabled and not on_tailnet(host):
        findings.append(Finding("exposure", "warn", detail, "keep gateway.bind loopback and use "
                                "`moltbot gateway --tailscale serve`, bind tailnet, or turn on gateway.tls"))
    else:
        findings.append(Finding("exposure", "ok", detail))
    if identity or mode != "off":
        findings += _tailscale_findings(socket_path(gateway), find_cli(ctx.env) if mode != "off" else "")
    return findings


def _tailscale_findings(socket: str, cli: str | None) -> list[Finding]:
    """tailscaled answers on ``socket``; the CLI was found (``""``: not needed)."""
    from ..tailscale.exposure import TailscaleError, check_daemon
    from .doctor import Finding as finding

    found = []
    try:
        name = trio.run(check_daemon, socket)
        found.append(finding("tailscale", "ok", f"tailscaled answers at {socket}" + (f" ({name})" if name else "")))
    except TailscaleError as exc:
        found.append(finding("tailscale", "warn", f"{exc}: tailnet users cannot be verified by identity and "
                             "Serve/Funnel cannot be set up", "start tailscaled and `tailscale up`, or set "
                             "gateway.tailscale.socket to its socket"))
    if cli is None:
        found.append(finding("tailscale", "warn", "the tailscale CLI was not found: serve/funnel cannot be set up",
                             "install Tailscale, or set MOLTBOT_TAILSCALE_CLI to the CLI's path"))
    return found

"""``moltbot status``, ``moltbot health``, ``moltbot dashboard``: what the running gateway reports.

``status`` works with the original gateway and today's OpenClaw too: their result has no ``gateway``/``lanes``
blocks (ours adds them: connections, queue depth per lane, error counts), and those parts are then left out
(OpenClaw's ``runtimeVersion`` and ``pid`` are shown instead).
"""

from __future__ import annotations

import os
import webbrowser
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import click

from ..config.env import lookup
from .errors import command
from .output import Output
from .rpc import CLI_SCOPES, Session, connection_options, local_url, resolve, resolve_target

__all__ = ["CLI_SCOPES", "connection_options", "dashboard_command", "health_command", "render_usage",
           "resolve_target", "run_client_command", "status_command"]


def channel_state(summary: dict) -> tuple[str, str]:
    """(status, words) for one channel of a ``health`` result (ours: connected/running, the original's: linked)."""
    linked = summary.get("linked", summary.get("connected"))
    if not summary.get("configured"):
        return "skip", "not configured"
    if summary.get("lastError"):
        return "warn", f"last error: {summary['lastError']}"
    if summary.get("running") is False:
        return "warn", "configured but not running"
    if linked is False:
        return "fail", "configured but not linked"
    return "ok", "linked" if linked else "configured"


def run_client_command(method: str, params: Any, options: dict[str, Any], render: Callable[[Any], str], *,
                       force_json: bool = False) -> None:
    """Call ``method`` once and print ``render(payload)`` (JSON with ``--json``); exit 1 on failure."""
    session = Session.from_options(options)
    payload = session.call(method, params)
    if options.get("as_json") or force_json:
        session.out.json(payload)
    else:
        click.echo(render(payload))


def show(method: str, options: dict[str, Any], render: Callable[[Output, Any], None]) -> None:
    """Call ``method`` once and draw the result with ``render(out, payload)`` (JSON with ``--json``)."""
    session = Session.from_options(options)
    payload = session.call(method, None)
    if options.get("as_json"):
        session.out.json(payload)
    else:
        render(session.out, payload)


def _duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def render_health(out: Output, payload: dict[str, Any]) -> None:
    ok = bool(payload.get("ok"))
    out.line(f"Gateway health: {'ok' if ok else 'NOT OK'} ({payload.get('durationMs', 0)} ms)",
             style="green" if ok else "bold red")
    channels = payload.get("channels") or {}
    order = payload.get("channelOrder") or list(channels)
    if not order:
        out.line("Channels: none configured")
    else:
        labels = payload.get("channelLabels") or {}
        rows = []
        for name in order:
            state, detail = channel_state(channels.get(name) or {})
            rows.append([labels.get(name, name), state, detail])
        out.table(["Channel", "State", "Detail"], rows, status_column=1)
    agents = payload.get("agents") or []
    if agents:
        rows = [[agent.get("agentId"), "yes" if agent.get("isDefault") else "",
                 (agent.get("sessions") or {}).get("count", 0),
                 (agent.get("heartbeat") or {}).get("every", "") if (agent.get("heartbeat") or {}).get("enabled")
                 else "off"] for agent in agents]
        out.table(["Agent", "Default", "Sessions", "Heartbeat"], rows)


# A reload's decision (config/reload.py), as status words it.
RELOAD_WORDS = {"nothing": "nothing to apply", "unchanged": "unchanged", "hot": "applied without a restart",
                "restart": "applied by a restart", "scheduled": "a restart applies it", "disabled":
                "gateway.reload.mode is off: not applied", "ignored": "needs a restart: not applied (hot mode)"}


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def render_config(out: Output, config: dict[str, Any] | None) -> None:
    """The config file as the gateway read it last: reloaded (when, from where), or the error it has now."""
    if not config:
        return
    path = config.get("path")
    if config.get("error"):
        since = f" since {_clock(config['errorAtMs'])}" if config.get("errorAtMs") else ""
        out.line(f"Config: {path} does not load{since}: {config['error']}", style="bold red")
        out.line(f"  the gateway runs on its last good config; fix it while it runs with `{command('config set PATH VALUE')}`"
                 f" or `{command('config unset PATH')}` (or edit the file): it is reloaded when saved", style="yellow")
    elif config.get("lastReloadAtMs"):
        decision = RELOAD_WORDS.get(config.get("lastReload") or "", config.get("lastReload"))
        out.line(f"Config: reloaded at {_clock(config['lastReloadAtMs'])} from {path} ({decision})")
    else:
        out.line(f"Config: {path} (as loaded at start; not reloaded since)")


def render_status(out: Output, payload: dict[str, Any]) -> None:
    gateway = payload.get("gateway")
    if gateway:
        out.line(f"Gateway {gateway.get('version')} (pid {gateway.get('pid')}), up "
                 f"{_duration(gateway.get('uptimeMs', 0))}, {gateway.get('connections', 0)} connection(s)")
        errors = gateway.get("errors") or {}
        total = sum(errors.values())
        out.line("Errors since start: " + (", ".join(f"{name} {count}" for name, count in errors.items()) or "none"),
                 style="yellow" if total else None)
        render_config(out, gateway.get("config"))
    elif payload.get("runtimeVersion"):  # today's OpenClaw: no gateway block, its version and pid at the top
        out.line(f"Gateway {payload['runtimeVersion']} (pid {payload.get('pid', '?')})")
    lanes = payload.get("lanes")
    if lanes is not None:
        rows = [[lane["lane"], lane["queued"], f"{lane['active']}/{lane['maxConcurrent']}", lane["completed"],
                 lane["errors"]] for lane in lanes]
        out.table(["Lane", "Queued", "Active", "Done", "Errors"], rows, title="Agent lanes")
    out.line("Channels: " + ("; ".join(payload.get("channelSummary") or []) or "none configured"))
    sessions = payload.get("sessions") or {}
    out.line(f"Sessions: {sessions.get('count', 0)}")
    queued = payload.get("queuedSystemEvents") or []
    if queued:
        out.line(f"Queued system events: {len(queued)}")


@click.command("health")
@connection_options
def health_command(**options) -> None:
    """Ask the running gateway for its health summary."""
    show("health", options, render_health)


def _tokens(count: int) -> str:
    return f"{count / 1_000_000:.1f}M" if count >= 1_000_000 else f"{count / 1000:.1f}k" if count >= 1000 else str(count)


def _dollars(totals: dict[str, Any]) -> str:
    cost = f"${totals.get('totalCost', 0):.4f}" if totals.get("totalCost", 0) < 1 else f"${totals['totalCost']:.2f}"
    missing = totals.get("missingCostEntries", 0)
    return cost + (f" (+{missing} unpriced)" if missing else "")


def render_usage(out: Output, cost: dict[str, Any]) -> None:
    """``usage.cost``: totals, the last days, and per model (prices from ``models.providers.*.models[].cost``)."""
    totals = cost.get("totals") or {}
    out.line(f"Usage, last {cost.get('days', 30)} days: {_tokens(totals.get('totalTokens', 0))} tokens "
             f"({_tokens(totals.get('input', 0))} in, {_tokens(totals.get('output', 0))} out, "
             f"{_tokens(totals.get('cacheRead', 0))} cache read), {_dollars(totals)}")
    daily = (cost.get("daily") or [])[-7:]
    if daily:
        out.table(["Day", "Tokens", "Cost"], [[d["date"], _tokens(d.get("totalTokens", 0)), _dollars(d)]
                                              for d in daily], title="Last days")
    models = cost.get("byModel") or []
    if models:
        out.table(["Model", "Tokens", "Cost"], [[f"{m.get('provider') or '?'}/{m.get('model') or '?'}",
                                                 _tokens(m.get("totalTokens", 0)), _dollars(m)] for m in models],
                  title="By model")


@click.command("status")
@click.option("--usage", "with_usage", is_flag=True, help="Also show token usage and cost (usage.cost).")
@click.option("--days", type=click.IntRange(1, 3660), default=30, show_default=True, help="Days of usage.")
@connection_options
def status_command(with_usage: bool, days: int, **options) -> None:
    """Ask the running gateway for its status (connections, lane queues, errors since start)."""
    session = Session.from_options(options)
    payload = session.call("status", None)
    cost = session.call("usage.cost", {"days": days}) if with_usage else None
    if options.get("as_json"):
        session.out.json({**payload, "usage": cost} if with_usage else payload)
        return
    profile = lookup(os.environ, "PROFILE") or "default"
    session.out.line(f"Reached {session.target.url} (profile {profile}; config {session.target.config.path})")
    render_status(session.out, payload)
    if cost is not None:
        render_usage(session.out, cost)


@click.command("dashboard")
@click.option("--open", "open_browser", is_flag=True, help="Also open the URL in the default browser.")
@click.option("--no-token", is_flag=True, help="Leave the token out of the URL (the page then asks for it).")
@click.option("--json", "as_json", is_flag=True, help="Print {url, enabled} as JSON.")
def dashboard_command(open_browser: bool, no_token: bool, as_json: bool) -> None:
    """Print the Control UI URL of this profile's gateway, carrying the token once.

    The token rides in the URL's fragment (#token=…), which browsers never send to the server, so it
    cannot end up in an access log; the page stores it and removes it from the address bar.
    """
    target = resolve(None, None, None)
    config = target.config
    ui = config.gateway.control_ui
    base = "/" + ui.base_path.strip("/") if ui.base_path.strip("/") else ""
    url = local_url(config).replace("ws", "http", 1) + base + "/"
    if target.token and not no_token:
        url += "#" + urlencode({"token": target.token})
    out = Output(as_json=as_json)
    if as_json:
        out.json({"url": url, "enabled": ui.enabled})
    else:
        out.line(url)
    if not ui.enabled:
        out.note("gateway.controlUi.enabled is false: the gateway does not serve the Control UI", style="yellow")
    elif not target.token:
        out.note("No gateway token found (CLAWDBOT_GATEWAY_TOKEN, gateway.auth.token): the page will ask for it")
    if open_browser and ui.enabled and not webbrowser.open(url):
        out.note("No browser could be opened here: open the URL above yourself", style="yellow")

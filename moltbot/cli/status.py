"""``moltbot health`` / ``moltbot status``: one request to a running gateway over the client library."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click
import trio

from ..client import GatewayClosed, open_gateway_client
from ..config.load import ConfigError, load_config
from ..protocol import RemoteProtocolError

CLI_SCOPES = ["operator.admin", "operator.approvals", "operator.pairing"]


def connection_options(fn: Callable) -> Callable:
    @click.option("--url", help="Gateway WebSocket URL (default ws://127.0.0.1:<port>).")
    @click.option("--token", help="Gateway token (default CLAWDBOT_GATEWAY_TOKEN, then gateway.auth.token).")
    @click.option("--password", help="Gateway password (default CLAWDBOT_GATEWAY_PASSWORD).")
    @click.option("--timeout", type=click.IntRange(1), default=10_000, show_default=True, help="Milliseconds.")
    @click.option("--json", "as_json", is_flag=True, help="Print the raw JSON result.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def resolve_target(url: str | None, token: str | None, password: str | None) -> tuple[str, str | None, str | None]:
    """URL, token and password the way the reference CLI finds them (flags, environment, config)."""
    env = os.environ
    try:
        config = load_config(env=env)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if url is None:
        port = env.get("CLAWDBOT_GATEWAY_PORT") or str(config.gateway.port)
        url = f"ws://127.0.0.1:{port}"
    token = token or env.get("CLAWDBOT_GATEWAY_TOKEN") or config.gateway.auth.token
    password = password or env.get("CLAWDBOT_GATEWAY_PASSWORD") or config.gateway.auth.password
    return url, token, password


def run_client_command(method: str, params: Any, options: dict[str, Any], render: Callable[[Any], str], *,
                       force_json: bool = False) -> None:
    url, token, password = resolve_target(options["url"], options["token"], options["password"])

    async def call() -> Any:
        with trio.fail_after(options["timeout"] / 1000):
            async with open_gateway_client(url, token=token, password=password, client_id="cli", mode="cli",
                                           scopes=CLI_SCOPES) as client:
                return await client.call(method, params)

    try:
        payload = trio.run(call)
    except RemoteProtocolError as exc:
        click.echo(f"gateway error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)
    except GatewayClosed as exc:
        click.echo(f"gateway unreachable at {url}: {exc}", err=True)
        sys.exit(1)
    except trio.TooSlowError:
        click.echo(f"gateway at {url} did not answer within {options['timeout']} ms", err=True)
        sys.exit(1)
    click.echo(json.dumps(payload, indent=2) if options["as_json"] or force_json else render(payload))


def _render_health(payload: dict[str, Any]) -> str:
    lines = [f"Gateway health: {'ok' if payload.get('ok') else 'NOT OK'} ({payload.get('durationMs', 0)} ms)"]
    channels = payload.get("channelOrder") or []
    lines.append("Channels: " + (", ".join(channels) if channels else "none configured"))
    for agent in payload.get("agents", []):
        default = " (default)" if agent.get("isDefault") else ""
        lines.append(f"Agent {agent.get('agentId')}{default}: {agent.get('sessions', {}).get('count', 0)} sessions")
    return "\n".join(lines)


def _render_status(payload: dict[str, Any]) -> str:
    gateway = payload.get("gateway", {})
    errors = gateway.get("errors", {})
    lines = [
        f"Gateway {gateway.get('version')} (pid {gateway.get('pid')}), up {gateway.get('uptimeMs', 0) // 1000} s, "
        f"{gateway.get('connections', 0)} connection(s)",
        "Errors since start: " + ", ".join(f"{name} {count}" for name, count in errors.items()),
        "Lanes:",
    ]
    for lane in payload.get("lanes", []):
        lines.append(f"  {lane['lane']}: {lane['queued']} queued, {lane['active']}/{lane['maxConcurrent']} active, "
                     f"{lane['completed']} done, {lane['errors']} errors")
    lines.append("Channels: " + ("; ".join(payload.get("channelSummary") or []) or "none configured"))
    lines.append(f"Sessions: {payload.get('sessions', {}).get('count', 0)}")
    return "\n".join(lines)


@click.command("health")
@connection_options
def health_command(**options) -> None:
    """Ask the running gateway for its health summary."""
    run_client_command("health", None, options, _render_health)


@click.command("status")
@connection_options
def status_command(**options) -> None:
    """Ask the running gateway for its status (connections, lanes, errors since start)."""
    run_client_command("status", None, options, _render_status)

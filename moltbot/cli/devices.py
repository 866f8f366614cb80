"""``moltbot devices …``, ``moltbot nodes …``, ``moltbot node run`` and ``moltbot gateway discover``.

Every RPC here connects as the CLI does in the original: client ``cli``, the operator scopes of the CLI,
and the machine's device identity (``<stateDir>/identity/device.json``) signing the challenge; the
device token from ``hello-ok.auth`` is kept, and used when no shared token is configured.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click
import trio

from ..client import GatewayClosed, open_gateway_client
from ..config.paths import resolve_state_dir
from ..devices.identity import DeviceAuthStore, identity_path, load_or_create_identity
from ..protocol import DeviceKeyPair, RemoteProtocolError
from .errors import command

try:  # the CLI's shared connection helpers (moving from status.py to rpc.py)
    from .rpc import CLI_SCOPES, connection_options, resolve_target
except ImportError:  # pragma: no cover
    from .status import CLI_SCOPES, connection_options, resolve_target


def cli_identity() -> tuple[DeviceKeyPair, DeviceAuthStore]:
    """The CLI's device identity (created on first use, 0600) and its device-token store."""
    identity = load_or_create_identity(identity_path(os.environ))
    return identity, DeviceAuthStore(resolve_state_dir(os.environ) / "identity" / "device-auth.json")


def call_gateway(method: str, params: Any, options: dict[str, Any]) -> Any:
    """One signed request to the gateway; exits 1 with the gateway's words on failure."""
    url, token, password = resolve_target(options["url"], options["token"], options["password"])
    identity, tokens = cli_identity()
    token = token or (None if password else tokens.load(identity.device_id, "operator"))

    async def call() -> Any:
        with trio.fail_after(options["timeout"] / 1000):
            async with open_gateway_client(url, token=token, password=password, client_id="cli", mode="cli",
                                           scopes=CLI_SCOPES, device=identity) as client:
                auth = client.hello.auth
                if auth is not None and auth.device_token is not None:
                    await trio.to_thread.run_sync(tokens.store, identity.device_id, "operator", auth.device_token,
                                                  list(auth.scopes))
                return await client.call(method, params)

    try:
        return trio.run(call)
    except RemoteProtocolError as exc:
        detail = f" ({json.dumps(exc.details)})" if exc.details else ""
        click.echo(f"gateway error: {exc.code}: {exc.message}{detail}", err=True)
    except GatewayClosed as exc:
        click.echo(f"gateway unreachable at {url}: {exc}", err=True)
    except trio.TooSlowError:
        click.echo(f"gateway at {url} did not answer within {options['timeout']} ms", err=True)
    sys.exit(1)


def _echo(payload: Any, options: dict[str, Any], render) -> None:
    click.echo(json.dumps(payload, indent=2) if options["as_json"] else render(payload))


# --- devices -------------------------------------------------------------------------------------------

@click.group("devices")
def devices_group() -> None:
    """Device pairing and device tokens."""


def _render_devices(payload: dict[str, Any]) -> str:
    lines = [f"Pending ({len(payload['pending'])}):"]
    for request in payload["pending"]:
        lines.append(f"  {request['requestId']}  {request['deviceId'][:16]}…  role {request.get('role', '?')}  "
                     f"{request.get('displayName') or request.get('clientId') or ''}  {request.get('remoteIp') or ''}")
    lines.append(f"Paired ({len(payload['paired'])}):")
    for device in payload["paired"]:
        roles = ",".join(device.get("roles") or [])
        tokens = ", ".join(f"{t['role']}{' (revoked)' if t.get('revokedAtMs') else ''}" for t in device.get("tokens") or [])
        lines.append(f"  {device['deviceId'][:16]}…  roles {roles}  tokens {tokens or '-'}  "
                     f"{device.get('displayName') or device.get('clientId') or ''}")
    return "\n".join(lines)


@devices_group.command("list")
@connection_options
def devices_list(**options) -> None:
    """List pending pairing requests and paired devices."""
    _echo(call_gateway("device.pair.list", {}, options), options, _render_devices)


@devices_group.command("approve")
@click.argument("request_id")
@connection_options
def devices_approve(request_id: str, **options) -> None:
    """Approve a pending pairing request."""
    payload = call_gateway("device.pair.approve", {"requestId": request_id}, options)
    _echo(payload, options, lambda p: f"Approved {p['device']['deviceId']} ({', '.join(p['device'].get('roles') or [])})")


@devices_group.command("reject")
@click.argument("request_id")
@connection_options
def devices_reject(request_id: str, **options) -> None:
    """Reject a pending pairing request."""
    payload = call_gateway("device.pair.reject", {"requestId": request_id}, options)
    _echo(payload, options, lambda p: f"Rejected {p['deviceId']}")


@devices_group.command("rotate")
@click.option("--device", "device_id", required=True, help="Device id.")
@click.option("--role", required=True, help="Role of the token (operator or node).")
@click.option("--scope", "scopes", multiple=True, help="Scope of the new token (repeatable).")
@connection_options
def devices_rotate(device_id: str, role: str, scopes: tuple[str, ...], **options) -> None:
    """Issue a new token for a device's role (the old one stops working)."""
    params: dict[str, Any] = {"deviceId": device_id, "role": role}
    if scopes:
        params["scopes"] = list(scopes)
    _echo(call_gateway("device.token.rotate", params, options), options, lambda p: p["token"])


@devices_group.command("revoke")
@click.option("--device", "device_id", required=True, help="Device id.")
@click.option("--role", required=True, help="Role of the token.")
@connection_options
def devices_revoke(device_id: str, role: str, **options) -> None:
    """Revoke a device's token for a role."""
    payload = call_gateway("device.token.revoke", {"deviceId": device_id, "role": role}, options)
    _echo(payload, options, lambda p: f"Revoked {p['role']} token of {p['deviceId']}")


# --- nodes ---------------------------------------------------------------------------------------------

@click.group("nodes")
def nodes_group() -> None:
    """Paired and connected nodes."""


def _render_nodes(payload: dict[str, Any]) -> str:
    if not payload["nodes"]:
        return "No nodes."
    lines = []
    for node in payload["nodes"]:
        state = "connected" if node["connected"] else "offline"
        lines.append(f"{node['nodeId'][:16]}…  {node.get('displayName') or '-'}  {node.get('platform') or '?'}  "
                     f"{state}{'' if node['paired'] else ' (unpaired)'}  commands: {', '.join(node['commands']) or '-'}")
    return "\n".join(lines)


def _resolve_node(ref: str, options: dict[str, Any]) -> str:
    """A node id from an id, an id prefix or a display name."""
    nodes = call_gateway("node.list", {}, options)["nodes"]
    for test in (lambda n: n["nodeId"] == ref, lambda n: n.get("displayName") == ref,
                 lambda n: n["nodeId"].startswith(ref)):
        matches = [n["nodeId"] for n in nodes if test(n)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise click.ClickException(f"--node {ref!r} matches {len(matches)} nodes: give more of the id "
                                       f"(`{command('nodes list')}` shows them)")
    raise click.ClickException(f"no node {ref!r} is known to the gateway (neither paired nor connected): "
                               f"`{command('nodes list')}` shows the nodes")


@nodes_group.command("list")
@connection_options
def nodes_list(**options) -> None:
    """List nodes (connected first)."""
    _echo(call_gateway("node.list", {}, options), options, _render_nodes)


@nodes_group.command("describe")
@click.option("--node", "node_ref", required=True, help="Node id, id prefix or display name.")
@connection_options
def nodes_describe(node_ref: str, **options) -> None:
    """Show one node."""
    payload = call_gateway("node.describe", {"nodeId": _resolve_node(node_ref, options)}, options)
    click.echo(json.dumps(payload, indent=2))


@nodes_group.command("invoke")
@click.option("--node", "node_ref", required=True, help="Node id, id prefix or display name.")
@click.option("--command", "command", required=True, help="Command, e.g. system.which.")
@click.option("--params", "params_json", default="{}", show_default=True, help="Params as JSON.")
@click.option("--invoke-timeout", type=click.IntRange(0), default=30_000, show_default=True, help="Milliseconds.")
@click.option("--idempotency-key", default=None, help="Defaults to a random key.")
@connection_options
def nodes_invoke(node_ref: str, command: str, params_json: str, invoke_timeout: int, idempotency_key: str | None,
                 **options) -> None:
    """Invoke a command on a node and print its answer."""
    import uuid

    try:
        params = json.loads(params_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from None
    request = {"nodeId": _resolve_node(node_ref, options), "command": command, "params": params,
               "timeoutMs": invoke_timeout, "idempotencyKey": idempotency_key or str(uuid.uuid4())}
    options = {**options, "timeout": max(options["timeout"], invoke_timeout + 5_000)}
    payload = call_gateway("node.invoke", request, options)
    click.echo(json.dumps(payload if options["as_json"] else payload.get("payload"), indent=2))


# --- node host -----------------------------------------------------------------------------------------

@click.group("node")
def node_group() -> None:
    """Run this machine as a node."""


@node_group.command("run")
@click.option("--url", help="Gateway WebSocket URL (default ws://127.0.0.1:<port>).")
@click.option("--token", help="Gateway token, for the first pairing (default CLAWDBOT_GATEWAY_TOKEN, then config).")
@click.option("--display-name", default=None, help="Name shown to operators.")
def node_run(url: str | None, token: str | None, display_name: str | None) -> None:
    """Connect as a headless node (system.which, system.notify) until interrupted."""
    from ..nodes.host import NodeHost

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    url, token, _ = resolve_target(url, token, None)
    identity, tokens = cli_identity()
    host = NodeHost(url, identity, token=token, auth_store=tokens, display_name=display_name)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            hello = await nursery.start(host.serve)
            click.echo(f"node {identity.device_id} connected to {url} (protocol {hello.protocol})", err=True)

    trio.run(run)  # Ctrl-C: MoltbotGroup prints "interrupted" and exits 130


# --- discovery -----------------------------------------------------------------------------------------

@click.command("discover")
@click.option("--timeout", type=click.IntRange(1), default=2000, show_default=True, help="Milliseconds to browse.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def discover_command(timeout: int, as_json: bool) -> None:
    """Find gateways advertising _moltbot-gw._tcp on the LAN (mDNS)."""
    from ..nodes.discovery import DiscoveryUnavailable, discover_gateways

    try:
        found = trio.run(discover_gateways, timeout / 1000)
    except DiscoveryUnavailable as exc:
        click.echo(f"discovery not available: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps([g.to_json() for g in found], indent=2))
    elif not found:
        click.echo("No gateways found.")
    for gateway in [] if as_json else found:
        click.echo(f"{gateway.name}  {gateway.url}  version {gateway.properties.get('version', '?')}")

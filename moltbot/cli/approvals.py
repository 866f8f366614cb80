"""``moltbot approvals list|allow|deny|get``: answer the gateway's waiting exec approvals.

Each command is one signed request (``devices.call_gateway``: the CLI's identity and scopes, which
include ``operator.approvals``): ``list`` is ``exec.approval.list``, ``allow``/``deny`` are
``exec.approval.resolve``, ``get`` prints the approvals file (``exec.approvals.get``).
"""

from __future__ import annotations

import time
from typing import Any

import click

from .devices import _echo, call_gateway
from .rpc import connection_options


@click.group("approvals")
def approvals_group() -> None:
    """Exec approvals: what waits for an answer, and the approvals file."""


def _render_pending(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No exec approvals are waiting."
    now = int(time.time() * 1000)
    lines = [f"Waiting ({len(rows)}):"]
    for row in rows:
        request = row["request"]
        left = max(0, (row["expiresAtMs"] - now) // 1000)
        lines.append(f"  {row['id']}  agent {request.get('agentId') or '-'}  {left}s left  "
                     f"{request.get('cwd') or ''}\n      $ {request['command'][:300]}")
    return "\n".join(lines)


@approvals_group.command("list")
@connection_options
def approvals_list(**options) -> None:
    """List exec requests waiting for approval."""
    _echo(call_gateway("exec.approval.list", {}, options), options, _render_pending)


@approvals_group.command("allow")
@click.argument("approval_id")
@click.option("--always", is_flag=True, help="Also add the command to the agent's allowlist.")
@connection_options
def approvals_allow(approval_id: str, always: bool, **options) -> None:
    """Allow a waiting request (once, or --always)."""
    decision = "allow-always" if always else "allow-once"
    payload = call_gateway("exec.approval.resolve", {"id": approval_id, "decision": decision}, options)
    _echo(payload, options, lambda _: f"Allowed {approval_id} ({decision})")


@approvals_group.command("deny")
@click.argument("approval_id")
@connection_options
def approvals_deny(approval_id: str, **options) -> None:
    """Deny a waiting request."""
    payload = call_gateway("exec.approval.resolve", {"id": approval_id, "decision": "deny"}, options)
    _echo(payload, options, lambda _: f"Denied {approval_id}")


@approvals_group.command("get")
@connection_options
def approvals_get(**options) -> None:
    """Print the approvals file (defaults, per-agent allowlists) as the gateway has it."""
    payload = call_gateway("exec.approvals.get", {}, options)
    _echo(payload, options, lambda p: f"{p['path']} ({'exists' if p['exists'] else 'missing'})\n"
                                      + __import__("json").dumps(p["file"], indent=2))

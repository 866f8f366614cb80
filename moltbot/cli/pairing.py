"""``moltbot pairing list|approve <channel> [code]``: approve DM senders who asked for a pairing code.

Works on the pairing files directly (``<stateDir>/credentials/<channel>-pairing.json`` and
``<channel>-allowFrom.json``); a running gateway reads them on every message, so approval takes effect
with the sender's next message.
"""

from __future__ import annotations

import json
import os

import click

from ..channels.manager import SUPERVISED
from ..channels.pairing import PairingStore
from ..config.paths import resolve_state_dir


def _store(channel: str) -> PairingStore:
    channel = channel.strip().lower()
    if channel not in SUPERVISED:
        raise click.UsageError(f"unsupported channel: {channel} (one of {', '.join(SUPERVISED)})")
    return PairingStore(resolve_state_dir(os.environ), channel)


@click.group("pairing")
def pairing_group() -> None:
    """Approve unknown DM senders (dmPolicy "pairing")."""


@pairing_group.command("list")
@click.argument("channel")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def pairing_list(channel: str, as_json: bool) -> None:
    """Pending pairing requests for CHANNEL."""
    pending = _store(channel).pending()
    if as_json:
        click.echo(json.dumps({"channel": channel, "requests": pending}, indent=2))
        return
    if not pending:
        click.echo(f"No pending {channel} pairing requests.")
    for request in pending:
        who = (request.get("meta") or {}).get("username") or ""
        click.echo(f"{request['code']}  {request['id']}  {who}".rstrip())


@pairing_group.command("approve")
@click.argument("channel")
@click.argument("code")
def pairing_approve(channel: str, code: str) -> None:
    """Allow the sender who was given CODE on CHANNEL."""
    sender = _store(channel).approve(code)
    if sender is None:
        raise click.ClickException(f"no pending {channel} pairing request with code {code.upper()}")
    click.echo(f"Approved {channel} sender {sender}.")

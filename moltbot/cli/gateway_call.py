"""``moltbot gateway call METHOD``: one RPC to the running gateway, its JSON result on stdout."""

from __future__ import annotations

import json

import click

from .rpc import Session, connection_options


@click.command("call")
@click.argument("method")
@click.option("--params", default="{}", help="Params as JSON (default {}).")
@click.option(
    "--expect-final", is_flag=True, help="Wait for the final response of a two-stage method (agent)."
)
@connection_options
def gateway_call(method: str, params: str, expect_final: bool, **options) -> None:
    """Call one gateway METHOD and print its JSON result."""
    try:
        value = json.loads(params)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--params") from None
    session = Session.from_options(options)
    session.out.json(session.run(lambda client: client.call(method, value, expect_final=expect_final)))

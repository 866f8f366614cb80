"""``moltbot config get <path>``: read one value of the config file (for example the gateway token)."""

from __future__ import annotations

import json
import sys

import click

from ..config.load import ConfigError, load_config


@click.group("config")
def config_group() -> None:
    """Read the config file."""


@config_group.command("get")
@click.argument("path")
def config_get(path: str) -> None:
    """Print the value at a dotted PATH (e.g. gateway.auth.token)."""
    try:
        config = load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    value = config.raw
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            click.echo(f"{path} is not set in {config.path}", err=True)
            sys.exit(1)
        value = value[part]
    click.echo(value if isinstance(value, str) else json.dumps(value, indent=2))

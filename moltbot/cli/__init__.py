"""The ``moltbot`` command line: ``gateway`` (run it), ``health``/``status`` (ask it), ``config get``."""

from __future__ import annotations

import click

from .config import config_group
from .gateway import gateway_group
from .status import health_command, status_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="moltbot", prog_name="moltbot")
def cli() -> None:
    """moltbot: a gateway between messaging channels and agents."""


cli.add_command(gateway_group)
cli.add_command(health_command)
cli.add_command(status_command)
cli.add_command(config_group)


def main() -> None:
    cli(prog_name="moltbot")

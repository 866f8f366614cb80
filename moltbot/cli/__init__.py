"""The ``moltbot`` command line.

Global options go before or after the command: ``moltbot [--dev | --profile NAME] <command>`` or
``moltbot <command> --dev`` (``base.py`` settles them once, and turns failures into short messages with
the right exit code; ``--debug`` shows the traceback). A profile only
fills unset environment variables (state dir, config path, and for ``dev`` the port 19001), so every
command of a profile talks to that profile's gateway and never touches the default one. Before that, the
``OPENCLAW_*`` and ``MOLTBOT_*`` names of each variable are resolved (``config/env.py``), and a profile the
environment names (``OPENCLAW_PROFILE``) is applied as ``--profile`` would be.
"""

from __future__ import annotations

import os

import click

from ..config.env import apply_aliases
from .agent import agent_command
from .approvals import approvals_group
from .base import MoltbotGroup, install, profile_options
from .channels import channels_group
from .config import config_group
from .conformance import conformance_command
from .cron import cron_group
from .devices import devices_group, discover_command, node_group, nodes_group
from .doctor import doctor_command
from .gateway import gateway_group
from .logs import logs_command
from .migrate import migrate_command
from .pairing import pairing_group
from .service import SERVICE_COMMANDS
from .setup import setup_command
from .status import dashboard_command, health_command, status_command


@click.group(cls=MoltbotGroup, context_settings={"help_option_names": ["-h", "--help"]},
             params=profile_options())
@click.option("--no-color", is_flag=True, help="No colours (as does the NO_COLOR environment variable).")
@click.version_option(package_name="moltbot", prog_name="moltbot")
def cli(no_color: bool) -> None:
    """moltbot: a gateway between messaging channels and agents."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    apply_aliases(os.environ)  # OPENCLAW_* and MOLTBOT_* beside CLAWDBOT_* (config/env.py)


cli.add_command(gateway_group)
cli.add_command(health_command)
cli.add_command(status_command)
cli.add_command(config_group)
cli.add_command(setup_command)
cli.add_command(conformance_command)
cli.add_command(devices_group)
cli.add_command(nodes_group)
cli.add_command(node_group)
gateway_group.add_command(discover_command)
cli.add_command(pairing_group)
cli.add_command(cron_group)
cli.add_command(channels_group)
cli.add_command(approvals_group)
for command in (logs_command, agent_command, doctor_command, dashboard_command, migrate_command):
    cli.add_command(command)
for command in SERVICE_COMMANDS:
    gateway_group.add_command(command)
install(cli)  # --dev/--profile/--debug on every command, and the profile settled before it runs


def main() -> None:
    cli(prog_name="moltbot")

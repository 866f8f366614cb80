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

from .. import _util
from ..config.env import apply_aliases
from .base import LazyCommand, MoltbotGroup, install, profile_options


def _lazy(module: str, attr: str, summary: str) -> LazyCommand:
    return LazyCommand(f"moltbot.cli.{module}", attr, summary)


# Each command's module is imported when the command runs (base.py, LazyGroup): ``moltbot --help`` lists these
# summaries (the first paragraph of each command's help; tests/cli/test_lazy.py keeps them equal).
COMMANDS = {
    "agent": _lazy("agent", "agent_command", "Run one agent turn through the gateway and stream the reply."),
    "approvals": _lazy("approvals", "approvals_group",
                       "Exec approvals: what waits for an answer, and the approvals file."),
    "channels": _lazy("channels", "channels_group",
                      "Link and unlink channel accounts (WhatsApp QR login); show the delivery queue."),
    "config": _lazy("config", "config_group", "Read or change the config file (a running gateway reloads it)."),
    "conformance": _lazy("conformance", "conformance_command",
                         "Test a gateway over the wire (protocol-spec/; OpenClaw's schema at 4) and print "
                         "pass/fail/skip per check."),
    "cron": _lazy("cron", "cron_group", "Scheduled jobs on the running gateway."),
    "dashboard": _lazy("status", "dashboard_command",
                       "Print the Control UI URL of this profile's gateway, carrying the token once."),
    "devices": _lazy("devices", "devices_group", "Device pairing and device tokens."),
    "doctor": _lazy("doctor", "doctor_command",
                    "Check config, permissions, token, port, lock, service and channels; print a fix for each "
                    "problem."),
    "gateway": _lazy("gateway", "gateway_group",
                     "Run the gateway in the foreground (Ctrl-C or SIGTERM stops it; SIGUSR1 or SIGUSR2 restarts "
                     "it in-process unless commands.restart is false)."),
    "health": _lazy("status", "health_command", "Ask the running gateway for its health summary."),
    "logs": _lazy("logs", "logs_command", "Print the gateway's log file (JSON lines with --json)."),
    "migrate": _lazy("migrate", "migrate_command",
                     "Import config, sessions, transcripts, cron jobs, pairings and workspace files into this "
                     "gateway's state."),
    "node": _lazy("devices", "node_group", "Run this machine as a node."),
    "nodes": _lazy("devices", "nodes_group", "Paired and connected nodes."),
    "pairing": _lazy("pairing", "pairing_group", 'Approve unknown DM senders (dmPolicy "pairing").'),
    "setup": _lazy("setup", "setup_command",
                   "Create the state dir (0700) and config (0600) with a gateway token, if missing; optionally a "
                   "model provider and a Telegram bot (asked on a terminal, flags otherwise)."),
    "status": _lazy("status", "status_command",
                    "Ask the running gateway for its status (connections, lane queues, errors since start)."),
}


@click.group(cls=MoltbotGroup, context_settings={"help_option_names": ["-h", "--help"]},
             params=profile_options(), lazy=COMMANDS)
@click.option("--no-color", is_flag=True, help="No colours (as does the NO_COLOR environment variable).")
@click.version_option(package_name="moltbot", prog_name="moltbot")
def cli(no_color: bool) -> None:
    """moltbot: a gateway between messaging channels and agents."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    apply_aliases(os.environ)  # OPENCLAW_* and MOLTBOT_* beside CLAWDBOT_* (config/env.py)


install(cli)  # --dev/--profile/--debug on every command, and the profile settled before it runs


def main() -> None:
    _util.FREEZE_IMPORTS = True  # this process is the command's own (not a test's CliRunner)
    cli(prog_name="moltbot")

"""``moltbot setup``: create the state dir and config with a gateway token. Safe to run again."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..config.load import ConfigError, generate_token, load_config, parse_json5
from ..store.atomic import write_atomic
from .errors import command


def _complete(raw: dict[str, Any], *, workspace: str | None, mode: str) -> list[str]:
    """Fill in what a working local gateway needs; return a line per change."""
    done = []
    gateway = raw.setdefault("gateway", {})
    if not gateway.get("mode"):
        gateway["mode"] = mode
        done.append(f"set gateway.mode = {mode}")
    auth = gateway.setdefault("auth", {})
    if not auth.get("token") and not auth.get("password"):
        auth["token"] = generate_token()
        done.append("generated a gateway token (gateway.auth.token)")
    defaults = raw.setdefault("agents", {}).setdefault("defaults", {})
    if workspace and not defaults.get("workspace"):
        defaults["workspace"] = workspace
        done.append(f"set agents.defaults.workspace = {workspace}")
    return done


def ensure_setup(path: Path, state_dir: Path, *, workspace: str | None, mode: str) -> list[str]:
    """Create what is missing; return what was done (empty when everything was already there).

    Raises:
        ConfigError: the existing file does not load (it is then left untouched).
    """
    done: list[str] = []
    if not state_dir.exists():
        done.append(f"created {state_dir}")
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    existed = path.exists()
    raw: dict[str, Any] = {}
    if existed:
        load_config(path, env=dict(os.environ))
        raw = parse_json5(path.read_text("utf-8"))
    else:
        done.append(f"created {path} (mode 0600)")
    changes = _complete(raw, workspace=workspace, mode=mode)
    if changes or not existed:
        write_atomic(path, json.dumps(raw, indent=2) + "\n", mode=0o600)
    os.chmod(path, 0o600)
    return done + changes


def _workspaces(path: Path) -> list[str]:
    """The agents' workspaces with their starter files (``agents/workspace.py``), from the config just set up."""
    from ..agents.workspace import setup_workspaces

    return setup_workspaces(load_config(path, env=dict(os.environ)))


@click.command("setup")
@click.option("--non-interactive", is_flag=True, help="Never prompt.")
@click.option("--mode", type=click.Choice(["local", "remote"]), default="local", show_default=True)
@click.option("--workspace", help="Agent workspace folder (default ~/clawd, or ~/clawd-dev for --dev).")
def setup_command(non_interactive: bool, mode: str, workspace: str | None) -> None:
    """Create the state dir (0700) and config (0600) with a gateway token, if missing."""
    from ..config.paths import resolve_config_path, resolve_state_dir

    env = os.environ
    state_dir, path = resolve_state_dir(env), resolve_config_path(env)
    home = Path(env.get("HOME") or Path.home())
    default_workspace = home / ("clawd-dev" if env.get("CLAWDBOT_PROFILE") == "dev" else "clawd")
    if workspace is None and not non_interactive and sys.stdin.isatty():
        workspace = click.prompt("Agent workspace", default=str(default_workspace))
    try:
        done = ensure_setup(path, state_dir, workspace=workspace or str(default_workspace), mode=mode)
    except ConfigError as exc:
        raise click.ClickException(f"{exc}\n(setup changes nothing until the file loads)") from None
    done += _workspaces(path)
    for line in done:
        click.echo(f"- {line}")
    if not done:
        click.echo("Already set up; nothing changed.")
    click.echo(f"Config: {path}\nState:  {state_dir}\n"
               f"The gateway token is in gateway.auth.token. Local clients ({command('status')}) read it from\n"
               "there; remote clients pass --token or set CLAWDBOT_GATEWAY_TOKEN. Print it with:\n"
               f"  {command('config get gateway.auth.token')}\n"
               f"Start the gateway with: {command('gateway')}")

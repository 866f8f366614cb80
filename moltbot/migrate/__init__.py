"""``moltbot migrate``: import another install's config and state into ours.

Two sources: today's OpenClaw (``~/.openclaw``, state in SQLite; ``openclaw.py``) and a January Clawdbot
folder (``~/.clawdbot``, JSON files; ``clawdbot.py``). ``build_plan`` reads the source and says what it
would write (nothing is written: that is the dry run); ``apply_plan`` writes it (``plan.py``: atomic
writes, 0600/0700, existing files left alone unless forced). The source is only ever read.

Targets: our state dir (``resolve_state_dir``) and config file: ``*_CONFIG_PATH`` when set, else
``<stateDir>/moltbot.json`` (never the OpenClaw file the discovery would fall back to).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..config.env import home_dir, lookup
from ..config.paths import resolve_state_dir
from .clawdbot import CONFIG_NAMES, plan_clawdbot
from .openclaw import SHARED_DB, plan_openclaw
from .plan import Action, MigrateError, Outcome, Plan, apply_plan, describe, summarize

__all__ = [
    "Action",
    "MigrateError",
    "Outcome",
    "Plan",
    "apply_plan",
    "build_plan",
    "describe",
    "find_source",
    "summarize",
]

KINDS = ("openclaw", "clawdbot")


def find_source(
    env: Mapping[str, str], *, source: Path | None = None, kind: str | None = None
) -> tuple[str, Path]:
    """Which folder to import and its kind. Default: ``~/.openclaw`` if it exists, else ``~/.clawdbot`` when
    it is not our state dir already. Raises ``MigrateError``."""
    home = home_dir(env)
    if source is None:
        defaults = {"openclaw": home / ".openclaw", "clawdbot": home / ".clawdbot"}
        if kind is not None:
            source = defaults[kind]
        else:
            ours = resolve_state_dir(env).resolve()
            existing = [(name, path) for name, path in defaults.items() if path.is_dir()]
            found = [(name, path) for name, path in existing if path.resolve() != ours]
            if found:
                return found[0]
            if not existing:
                raise MigrateError(
                    "no OpenClaw (~/.openclaw) or Clawdbot (~/.clawdbot) folder to import was found: "
                    "name one with --source PATH"
                )
            kind, source = existing[0]
    source = Path(source).expanduser()
    if not source.is_dir():
        raise MigrateError(f"{source} is not a folder")
    if kind is None:
        is_openclaw = (source / "openclaw.json").is_file() or (source / SHARED_DB).is_file()
        kind = "openclaw" if is_openclaw else "clawdbot"
    return kind, source


def build_plan(env: Mapping[str, str], *, source: Path | None = None, kind: str | None = None) -> Plan:
    """Read the source and plan the import (writes nothing). Raises ``MigrateError``."""
    kind, source = find_source(env, source=source, kind=kind)
    state_dir = resolve_state_dir(env)
    if source.resolve() == state_dir.resolve():
        raise MigrateError(
            f"{source} is this gateway's state dir already (set by the environment or the default): "
            "nothing to import. To import it into another folder, set MOLTBOT_STATE_DIR"
        )
    explicit = lookup(env, "CONFIG_PATH")
    config_path = Path(explicit).expanduser() if explicit else state_dir / "moltbot.json"
    source_configs = [source / "openclaw.json", *(source / name for name in CONFIG_NAMES)]
    if any(config_path.resolve() == path.resolve() for path in source_configs):
        raise MigrateError(
            f"the config path names the source's own file ({config_path.name}): set MOLTBOT_CONFIG_PATH "
            "to the file to write, or unset the variable"
        )
    plan = Plan(kind=kind, source=source, state_dir=state_dir, config_path=config_path)
    if kind == "openclaw":
        plan_openclaw(plan, home_dir(env))
    else:
        plan_clawdbot(plan)
    return plan

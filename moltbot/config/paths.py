"""Where the state dir and the config file are, from the environment, as the original finds them.

Variables are read through ``config/env.py`` (``MOLTBOT_*`` > ``OPENCLAW_*`` > ``CLAWDBOT_*``), and path
defaults start from ``MOLTBOT_HOME`` / ``OPENCLAW_HOME`` when set, else ``HOME``.

State dir: ``*_STATE_DIR`` → ``~/.clawdbot`` (``~/.moltbot`` only if it exists and ``~/.clawdbot`` does not).
``~/.openclaw`` is never taken as our state dir by default: today's OpenClaw keeps its state there in SQLite
and refuses to start while JSON session stores (ours) sit beside it; ``moltbot migrate`` imports it instead.

Config file: ``*_CONFIG_PATH`` → the first existing of ``<stateDir>/{moltbot,clawdbot,openclaw}.json`` (only
when a state dir was named), ``~/.moltbot/{moltbot,clawdbot}.json``, ``~/.clawdbot/{moltbot,clawdbot}.json``,
``~/.openclaw/openclaw.json`` → else ``<stateDir>/moltbot.json``. A file named ``openclaw.json`` that is used
is logged once, so a user sees which file an OpenClaw install's settings came from.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from .env import home_dir, lookup
from .ports import DEFAULT_GATEWAY_PORT as DEFAULT_PORT  # noqa: F401  (re-exported)

log = logging.getLogger("moltbot.config")

OPENCLAW_CONFIG_NAME = "openclaw.json"
_announced: set[Path] = set()


def _expand(value: str, home: Path) -> Path:
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    return Path(value)


def resolve_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``*_STATE_DIR`` → ``~/.clawdbot`` (``~/.moltbot`` only if it alone exists); module docstring."""
    home = home_dir(env)
    explicit = lookup(env, "STATE_DIR")
    if explicit:
        return _expand(explicit, home)
    legacy, new = home / ".clawdbot", home / ".moltbot"
    if new.exists() and not legacy.exists():
        return new
    return legacy


def config_candidates(env: Mapping[str, str] = os.environ) -> list[Path]:
    """The files looked for, in order, when no ``*_CONFIG_PATH`` is set."""
    home = home_dir(env)
    state_dir = resolve_state_dir(env)
    candidates = []
    if lookup(env, "STATE_DIR"):
        candidates += [state_dir / "moltbot.json", state_dir / "clawdbot.json", state_dir / OPENCLAW_CONFIG_NAME]
    for folder in (home / ".moltbot", home / ".clawdbot"):
        candidates += [folder / "moltbot.json", folder / "clawdbot.json"]
    candidates.append(home / ".openclaw" / OPENCLAW_CONFIG_NAME)
    return candidates


def resolve_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``*_CONFIG_PATH`` → the first existing candidate → ``<stateDir>/moltbot.json``; module docstring."""
    explicit = lookup(env, "CONFIG_PATH")
    if explicit:
        return _expand(explicit, home_dir(env))
    for candidate in config_candidates(env):
        if candidate.exists():
            if candidate.name == OPENCLAW_CONFIG_NAME and candidate not in _announced:
                _announced.add(candidate)
                log.warning("using OpenClaw's config file %s (no moltbot.json or clawdbot.json was found; "
                            "`moltbot migrate` makes a config of our own)", candidate)
            return candidate
    return resolve_state_dir(env) / "moltbot.json"

"""Where the state dir and the config file are, from the environment (reference §7.1)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .ports import DEFAULT_GATEWAY_PORT as DEFAULT_PORT  # noqa: F401  (re-exported)


def _expand(value: str, home: Path) -> Path:
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    return Path(value)


def resolve_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``MOLTBOT_STATE_DIR`` → ``CLAWDBOT_STATE_DIR`` → ``~/.clawdbot`` (``~/.moltbot`` only if it alone exists)."""
    home = Path(env.get("HOME") or Path.home())
    for name in ("MOLTBOT_STATE_DIR", "CLAWDBOT_STATE_DIR"):
        if env.get(name):
            return _expand(env[name], home)
    legacy, new = home / ".clawdbot", home / ".moltbot"
    if new.exists() and not legacy.exists():
        return new
    return legacy


def resolve_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``MOLTBOT_CONFIG_PATH`` → ``CLAWDBOT_CONFIG_PATH`` → the first existing candidate → ``<stateDir>/moltbot.json``."""
    home = Path(env.get("HOME") or Path.home())
    for name in ("MOLTBOT_CONFIG_PATH", "CLAWDBOT_CONFIG_PATH"):
        if env.get(name):
            return _expand(env[name], home)
    state_dir = resolve_state_dir(env)
    candidates = []
    if env.get("MOLTBOT_STATE_DIR") or env.get("CLAWDBOT_STATE_DIR"):
        candidates += [state_dir / "moltbot.json", state_dir / "clawdbot.json"]
    for folder in (home / ".moltbot", home / ".clawdbot"):
        candidates += [folder / "moltbot.json", folder / "clawdbot.json"]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return state_dir / "moltbot.json"

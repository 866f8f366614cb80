"""Profiles (reference §7.2): ``--dev`` and ``--profile NAME`` isolate state dir, config and port.

Applying a profile only fills environment variables that are not set, so an explicit
``CLAWDBOT_STATE_DIR`` still wins.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from .ports import DEV_GATEWAY_PORT as DEV_PORT

PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ProfileError(ValueError):
    pass


def apply_profile(name: str, env: MutableMapping[str, str]) -> None:
    name = name.lower()
    if not PROFILE_NAME.match(name):
        raise ProfileError(f"invalid profile name {name!r}: use letters, digits, '-' and '_' (max 64)")
    home = Path(env.get("HOME") or Path.home())
    state_dir = home / ".clawdbot" if name == "default" else home / f".clawdbot-{name}"
    env.setdefault("CLAWDBOT_PROFILE", name)
    env.setdefault("CLAWDBOT_STATE_DIR", str(state_dir))
    env.setdefault("CLAWDBOT_CONFIG_PATH", str(Path(env["CLAWDBOT_STATE_DIR"]) / "moltbot.json"))
    if name == "dev":
        env.setdefault("CLAWDBOT_GATEWAY_PORT", str(DEV_PORT))


def dev_workspace(env: MutableMapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home()) / "clawd-dev"


def dev_config(env: MutableMapping[str, str]) -> dict[str, Any]:
    """What ``moltbot --dev gateway`` writes when the dev profile has no config yet."""
    workspace = str(dev_workspace(env))
    return {
        "gateway": {"mode": "local", "bind": "loopback"},
        "agents": {
            "defaults": {"workspace": workspace, "skipBootstrap": True},
            "list": [{"id": "dev", "default": True, "workspace": workspace,
                      "identity": {"name": "C3-PO", "theme": "protocol droid", "emoji": "🤖"}}],
        },
    }

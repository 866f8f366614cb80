"""Profiles (reference §7.2): ``--dev`` and ``--profile NAME`` isolate state dir, config and port.

Applying a profile only fills environment variables that are not set (under any of the prefixes of
``config/env.py``), so an explicit ``CLAWDBOT_STATE_DIR`` or ``OPENCLAW_STATE_DIR`` still wins. A profile
named by the environment (``OPENCLAW_PROFILE``, ...) is applied as the ``--profile`` flag is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from .env import BY_NAME, home_dir, lookup
from .ports import DEV_GATEWAY_PORT as DEV_PORT

PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ProfileError(ValueError):
    pass


def apply_profile(name: str, env: MutableMapping[str, str]) -> None:
    """Fill the profile's state dir, config path (and for ``dev`` the port) where no variable of that name
    is set under any prefix (``config/env.py``): an explicit ``OPENCLAW_STATE_DIR`` still wins."""
    name = name.lower()
    if not PROFILE_NAME.match(name):
        raise ProfileError(f"invalid profile name {name!r}: use letters, digits, '-' and '_' (max 64)")
    home = home_dir(env)
    state_dir = home / ".clawdbot" if name == "default" else home / f".clawdbot-{name}"
    _fill(env, "PROFILE", name)
    _fill(env, "STATE_DIR", str(state_dir))
    _fill(env, "CONFIG_PATH", str(Path(lookup(env, "STATE_DIR") or state_dir) / "moltbot.json"))
    if name == "dev":
        _fill(env, "GATEWAY_PORT", str(DEV_PORT))


def profile_from_env(env: Mapping[str, str]) -> str | None:
    """The profile an environment names (``MOLTBOT_PROFILE`` / ``OPENCLAW_PROFILE`` / ``CLAWDBOT_PROFILE``):
    applied as ``--profile`` is when no flag is given, as OpenClaw's ``OPENCLAW_PROFILE`` isolates one."""
    return lookup(env, "PROFILE")


def _fill(env: MutableMapping[str, str], name: str, value: str) -> None:
    if lookup(env, name) is None:
        env[BY_NAME[name].canonical] = value


def dev_workspace(env: MutableMapping[str, str]) -> Path:
    return home_dir(env) / "clawd-dev"


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

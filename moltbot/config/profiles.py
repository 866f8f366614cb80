"""Profiles, as in the original: ``--dev`` and ``--profile NAME`` isolate state dir, config and port.

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


class ProfileMissing(ProfileError):
    """A client command named a profile whose state dir does not exist (a typo, or no setup yet)."""


def apply_profile(name: str, env: MutableMapping[str, str]) -> None:
    """Fill the profile's state dir, config path (and for ``dev`` the port) where no variable of that name
    is set under any prefix (``config/env.py``): an explicit ``OPENCLAW_STATE_DIR`` still wins."""
    name = name.lower()
    if not PROFILE_NAME.match(name):
        raise ProfileError(f"invalid profile name {name!r}: use letters, digits, '-' and '_' (max 64)")
    state_dir = profile_state_dir(name, env)
    _fill(env, "PROFILE", name)
    _fill(env, "STATE_DIR", str(state_dir))
    _fill(env, "CONFIG_PATH", str(Path(lookup(env, "STATE_DIR") or state_dir) / "moltbot.json"))
    if name == "dev":
        _fill(env, "GATEWAY_PORT", str(DEV_PORT))


def profile_state_dir(name: str, env: Mapping[str, str]) -> Path:
    """Where profile ``name`` keeps its state when no state-dir variable says otherwise."""
    home = home_dir(env)
    return home / ".clawdbot" if name == "default" else home / f".clawdbot-{name}"


def require_profile(env: Mapping[str, str]) -> None:
    """Raise ``ProfileMissing`` when the applied profile's state dir does not exist.

    Only ``setup`` (and the gateway, which writes a dev config) create a profile: a client command on a
    mistyped ``--profile`` would otherwise create ``~/.clawdbot-<typo>`` and talk to the default port.
    An explicit state-dir variable is the user's own choice and is not checked.
    """
    name = lookup(env, "PROFILE")
    if not name or name == "default":
        return
    expected = profile_state_dir(name, env)
    state_dir = lookup(env, "STATE_DIR")
    if state_dir is not None and Path(state_dir) != expected:
        return
    if not expected.is_dir():
        flag = "--dev" if name == "dev" else f"--profile {name}"
        raise ProfileMissing(f"profile {name!r} does not exist (no {expected}): create it with "
                             f"`moltbot {flag} setup`, or check the spelling")


def cli_command(words: str, env: Mapping[str, str] | None = None) -> str:
    """``moltbot <words>`` as it must be typed for the active profile (``moltbot --dev gateway``): every hint
    the CLI or the gateway prints carries the profile, so following it never reaches another profile."""
    import os

    name = lookup(os.environ if env is None else env, "PROFILE")
    flag = "" if not name or name == "default" else " --dev" if name == "dev" else f" --profile {name}"
    return f"moltbot{flag} {words}"


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

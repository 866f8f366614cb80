"""The gateway as a user service: a systemd user unit on Linux, a launchd agent on macOS.

``service_for(env)`` picks the manager of this platform for the profile in ``env``; both expose the same
methods (``render``/``write``/``read``, ``check_available``, ``enable_and_start``, ``start``, ``stop``,
``restart``, ``uninstall``, ``status``, ``linger_hint``). Where neither exists, or the manager is not
reachable (a container), ``ServiceUnavailable`` says so and what to do instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ..config.profiles import cli_command
from .base import (
    Runner,
    ServiceError,
    ServiceSpec,
    ServiceState,
    ServiceUnavailable,
    launchd_label,
    profile_name,
    run_command,
    systemd_unit_name,
)
from .launchd import LaunchdAgent, render_plist
from .systemd import SystemdUserService, render_unit

__all__ = [
    "LaunchdAgent",
    "ServiceError",
    "ServiceSpec",
    "ServiceState",
    "ServiceUnavailable",
    "SystemdUserService",
    "launchd_label",
    "render_plist",
    "render_unit",
    "service_for",
    "systemd_unit_name",
]


def service_for(
    env: Mapping[str, str] = os.environ, *, platform: str = sys.platform, run: Runner = run_command
) -> SystemdUserService | LaunchdAgent:
    """The service of this profile on this platform.

    Raises:
        ServiceUnavailable: the platform has no supported service manager (Windows, …).
    """
    home = Path(env.get("HOME") or Path.home())
    profile = profile_name(env)
    if platform == "darwin":
        return LaunchdAgent(profile, home=home, run=run)
    if platform.startswith("linux"):
        return SystemdUserService(profile, home=home, run=run)
    raise ServiceUnavailable(
        f"no supported service manager on {platform}: run `{cli_command('gateway')}` in the "
        "foreground or under your own supervisor"
    )

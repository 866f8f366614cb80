"""What a gateway service is, independent of the service manager: names, the command, the environment.

The service runs ``<this python> -m moltbot gateway`` (the interpreter of the installation that ran
``install``, so a virtualenv keeps working without activation) with the profile's state dir and config
path fixed in its environment. It never carries the gateway token: the gateway and every local client
read it from the same config file, so they cannot disagree (as they did for the original: a service
installed with one token and a UI holding another).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from .._version import __version__
from ..config.paths import resolve_config_path, resolve_state_dir
from ..config.profiles import cli_command

COMMAND_TIMEOUT = 20.0

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess]


class ServiceUnavailable(Exception):
    """No usable service manager here; the message says why and what to do instead."""


class ServiceError(Exception):
    """A service manager command failed; the message carries its output."""


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess:
    """Run a service manager command, capturing its output (bounded; a hung manager is an error)."""
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", str(exc))
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            list(argv), 124, "", f"{argv[0]} did not answer within {COMMAND_TIMEOUT:.0f} s"
        )


def profile_name(env: Mapping[str, str]) -> str | None:
    profile = (env.get("CLAWDBOT_PROFILE") or "").strip().lower()
    return profile if profile and profile != "default" else None


def systemd_unit_name(profile: str | None) -> str:
    """``moltbot-gateway.service``, or ``moltbot-gateway-<profile>.service`` (the original's unit names)."""
    return f"moltbot-gateway-{profile}.service" if profile else "moltbot-gateway.service"


def launchd_label(profile: str | None) -> str:
    """``bot.molt.gateway``, or ``bot.molt.<profile>`` (the original's launchd labels)."""
    return f"bot.molt.{profile}" if profile else "bot.molt.gateway"


@attrs.frozen
class ServiceSpec:
    """Everything a unit file or plist needs, computed once from this process and its environment."""

    profile: str | None
    program: tuple[str, ...]
    environment: dict[str, str]
    working_directory: Path
    log_dir: Path
    config_path: Path
    description: str

    @classmethod
    def for_this_installation(
        cls, env: Mapping[str, str] = os.environ, *, port: int | None = None, python: str | None = None
    ) -> ServiceSpec:
        """The service of this Python installation for the profile in ``env`` (``--port`` pins the port)."""
        profile = profile_name(env)
        state_dir, config_path = resolve_state_dir(env), resolve_config_path(env)
        home = Path(env.get("HOME") or Path.home())
        python = python or sys.executable
        program = (python, "-m", "moltbot", "gateway") + (("--port", str(port)) if port is not None else ())
        path_dirs = [str(Path(python).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        environment = {
            "HOME": str(home),
            "PATH": ":".join(dict.fromkeys(path_dirs)),
            "CLAWDBOT_STATE_DIR": str(state_dir),
            "CLAWDBOT_CONFIG_PATH": str(config_path),
            "PYTHONUNBUFFERED": "1",
        }
        if profile:
            environment["CLAWDBOT_PROFILE"] = profile
        if port is None and env.get("CLAWDBOT_GATEWAY_PORT"):
            environment["CLAWDBOT_GATEWAY_PORT"] = env["CLAWDBOT_GATEWAY_PORT"]
        if sys.platform == "darwin":
            environment["CLAWDBOT_LAUNCHD_LABEL"] = launchd_label(profile)
        else:
            environment["CLAWDBOT_SYSTEMD_UNIT"] = systemd_unit_name(profile)
        description = f"Moltbot gateway{f' (profile {profile})' if profile else ''}, moltbot {__version__}"
        return cls(
            profile=profile,
            program=program,
            environment=environment,
            working_directory=home,
            log_dir=state_dir / "logs",
            config_path=config_path,
            description=description,
        )


@attrs.frozen
class ServiceState:
    """The service manager's view of the gateway service."""

    manager: str  # "systemd" | "launchd"
    name: str  # unit name or label
    path: Path  # unit file or plist
    installed: bool
    loaded: bool = False
    active: str | None = None  # systemd ActiveState / launchd state
    sub_state: str | None = None
    pid: int | None = None
    restarts: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        return self.active in ("active", "running", "reloading")

    def to_json(self) -> dict:
        return {
            "manager": self.manager,
            "name": self.name,
            "path": str(self.path),
            "installed": self.installed,
            "loaded": self.loaded,
            "active": self.active,
            "subState": self.sub_state,
            "pid": self.pid,
            "restarts": self.restarts,
            "running": self.running,
            "problems": list(self.problems),
        }


def missing_program(program: Sequence[str]) -> list[str]:
    """Problems with an installed service's command line (a removed virtualenv is the usual one)."""
    if program and not Path(program[0]).exists():
        return [
            f"the service runs {program[0]}, which no longer exists (a removed virtualenv?): "
            f"reinstall with `{cli_command('gateway install --force')}`"
        ]
    return []

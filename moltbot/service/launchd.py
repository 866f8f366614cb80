"""The gateway as a launchd agent (``~/Library/LaunchAgents/bot.molt.gateway.plist`` or ``bot.molt.<profile>``).

``KeepAlive: {SuccessfulExit: false}`` restarts the gateway when it fails but not after a clean stop;
``ThrottleInterval`` spaces the restarts. The agent lives in the user's GUI domain
(``gui/<uid>``): ``bootstrap`` loads it, ``bootout`` unloads it, ``kickstart -k`` restarts it.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import sys
from pathlib import Path

from .base import (
    Runner,
    ServiceError,
    ServiceSpec,
    ServiceState,
    ServiceUnavailable,
    launchd_label,
    missing_program,
    run_command,
)


def render_plist(spec: ServiceSpec, label: str) -> bytes:
    return plistlib.dumps(
        {
            "Label": label,
            "ProgramArguments": list(spec.program),
            "EnvironmentVariables": dict(spec.environment),
            "WorkingDirectory": str(spec.working_directory),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 5,
            "StandardOutPath": str(spec.log_dir / "launchd.out.log"),
            "StandardErrorPath": str(spec.log_dir / "launchd.err.log"),
        }
    )


class LaunchdAgent:
    manager = "launchd"

    def __init__(self, profile: str | None, *, home: Path, run: Runner = run_command) -> None:
        self.name = launchd_label(profile)
        self.path = home / "Library" / "LaunchAgents" / f"{self.name}.plist"
        self.domain = f"gui/{os.getuid()}"
        self._run = run

    @property
    def target(self) -> str:
        return f"{self.domain}/{self.name}"

    def launchctl(self, *args: str, check: bool = True) -> str:
        result = self._run(["launchctl", *args])
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise ServiceError(f"launchctl {' '.join(args)} failed: {output or f'exit {result.returncode}'}")
        return result.stdout

    def check_available(self) -> None:
        if sys.platform != "darwin" or shutil.which("launchctl") is None:
            raise ServiceUnavailable("launchctl was not found: launchd agents exist on macOS only")

    def linger_hint(self) -> str | None:
        return None

    def render(self, spec: ServiceSpec) -> bytes:
        return render_plist(spec, self.name)

    def read(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)

    def enable_and_start(self) -> None:
        self.launchctl("bootout", self.target, check=False)  # a loaded older version keeps its old settings
        self.launchctl("enable", self.target, check=False)
        self.launchctl("bootstrap", self.domain, str(self.path))

    def uninstall(self) -> None:
        self.launchctl("bootout", self.target, check=False)
        self.path.unlink(missing_ok=True)

    def start(self) -> None:
        if not self._loaded():
            self.launchctl("bootstrap", self.domain, str(self.path))
        self.launchctl("kickstart", self.target)

    def stop(self) -> None:
        self.launchctl("bootout", self.target)

    def restart(self) -> None:
        if not self._loaded():
            self.start()
            return
        self.launchctl("kickstart", "-k", self.target)

    def _print(self) -> str | None:
        result = self._run(["launchctl", "print", self.target])
        return result.stdout if result.returncode == 0 else None

    def _loaded(self) -> bool:
        return self._print() is not None

    def status(self) -> ServiceState:
        installed = self.path.exists()
        problems: list[str] = []
        if installed:
            try:
                problems = missing_program(
                    plistlib.loads(self.path.read_bytes()).get("ProgramArguments") or []
                )
            except (plistlib.InvalidFileException, ValueError) as exc:
                raise ServiceError(f"{self.path} is not a valid plist: {exc}") from None
        text = self._print()
        state = re.search(r"^\s*state = (\S+)", text or "", re.MULTILINE)
        pid = re.search(r"^\s*pid = (\d+)", text or "", re.MULTILINE)
        runs = re.search(r"^\s*runs = (\d+)", text or "", re.MULTILINE)
        return ServiceState(
            manager=self.manager,
            name=self.name,
            path=self.path,
            installed=installed,
            loaded=text is not None,
            active=state.group(1) if state else None,
            pid=int(pid.group(1)) if pid else None,
            restarts=max(0, int(runs.group(1)) - 1) if runs else None,
            problems=tuple(problems),
        )

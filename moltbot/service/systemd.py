"""The gateway as a systemd user unit (``~/.config/systemd/user/moltbot-gateway[-<profile>].service``).

What went wrong for the original's users, avoided here: enabling a unit the manager cannot see ("Unit file … does not
exist": the file is written where the user manager looks by default, ``daemon-reload`` runs first, and
``LoadState`` is checked after), treating ``is-enabled``'s exit codes as fatal (state is read with
``systemctl --user show``, which answers for any unit), and a user manager that is not there at all
(containers, ``su``/SSH sessions without a user bus): that is detected up front and said plainly, with
what to do. ``Restart=on-failure`` with a start limit: a crash is restarted, a config error (exit 1 at
every start) stops after five tries instead of looping forever (item 3).
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
from pathlib import Path

from ..config.profiles import cli_command
from .base import (
    Runner,
    ServiceError,
    ServiceSpec,
    ServiceState,
    ServiceUnavailable,
    missing_program,
    run_command,
    systemd_unit_name,
)

SHOW_PROPERTIES = "LoadState,ActiveState,SubState,MainPID,NRestarts,UnitFileState"


def _quote(arg: str, *, exec_word: bool = True) -> str:
    """One word of a unit line: ``%`` (specifiers) is doubled, and ``$`` (variables) in ExecStart words."""
    arg = arg.replace("%", "%%")
    if exec_word:
        arg = arg.replace("$", "$$")
    if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(spec: ServiceSpec) -> str:
    """The unit file text for ``spec``."""
    environment = "\n".join(
        f"Environment={_quote(f'{key}={value}', exec_word=False)}" for key, value in spec.environment.items()
    )
    return f"""\
# Written by `moltbot gateway install`. Reinstall with `moltbot gateway install --force`.
# No secret here: the gateway reads its token from {spec.config_path}.
[Unit]
Description={spec.description}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=simple
ExecStart={" ".join(_quote(arg) for arg in spec.program)}
WorkingDirectory={str(spec.working_directory).replace("%", "%%")}
{environment}
Restart=on-failure
RestartSec=5
TimeoutStopSec=15

[Install]
WantedBy=default.target
"""


def parse_exec_start(text: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line[len("ExecStart=") :].replace("%%", "%").replace("$$", "$"))
    return []


class SystemdUserService:
    """Install and drive the unit of one profile through ``systemctl --user``."""

    manager = "systemd"

    def __init__(self, profile: str | None, *, home: Path, run: Runner = run_command) -> None:
        self.name = systemd_unit_name(profile)
        self.path = home / ".config" / "systemd" / "user" / self.name
        self._run = run

    def systemctl(self, *args: str, check: bool = True) -> str:
        result = self._run(["systemctl", "--user", *args])
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise ServiceError(
                f"systemctl --user {' '.join(args)} failed: {output or f'exit {result.returncode}'}"
            )
        return result.stdout

    def check_available(self) -> None:
        """Raise ``ServiceUnavailable`` unless a systemd user manager answers."""
        if shutil.which("systemctl") is None:
            raise ServiceUnavailable(
                "systemctl was not found: this system does not run systemd. Run the gateway in the foreground "
                f"(`{cli_command('gateway')}`) or under your own supervisor (a container's entrypoint, supervisord, …)."
            )
        result = self._run(["systemctl", "--user", "show-environment"])
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise ServiceUnavailable(
                f"the systemd user manager is not reachable ({reason[-1] if reason else f'exit {result.returncode}'}). "
                f"In a container systemd is usually not running: run `{cli_command('gateway')}` in the foreground instead. "
                "On a server, log in as the user directly (su/sudo sessions have no user bus), check "
                "XDG_RUNTIME_DIR=/run/user/$(id -u), and run `loginctl enable-linger $USER`."
            )

    def linger_hint(self) -> str | None:
        """A hint when the user manager would stop at logout (no lingering)."""
        user = os.environ.get("USER") or getpass.getuser()
        result = self._run(["loginctl", "show-user", user, "--property=Linger", "--value"])
        if result.returncode == 0 and result.stdout.strip() == "yes":
            return None
        return (
            f"to keep the gateway running after you log out (and start it at boot), run: "
            f"sudo loginctl enable-linger {user}"
        )

    def render(self, spec: ServiceSpec) -> str:
        return render_unit(spec)

    def read(self) -> str | None:
        return self.path.read_text("utf-8") if self.path.exists() else None

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)

    def enable_and_start(self) -> None:
        self.systemctl("daemon-reload")
        self.systemctl("enable", self.name)
        if self._show().get("LoadState") != "loaded":
            raise ServiceError(
                f"systemd does not see {self.path} (LoadState {self._show().get('LoadState')}); "
                "is XDG_CONFIG_HOME of the user manager different from ~/.config?"
            )
        self.systemctl("restart", self.name)

    def uninstall(self) -> None:
        self.systemctl("disable", "--now", self.name, check=False)
        self.path.unlink(missing_ok=True)
        self.systemctl("daemon-reload", check=False)

    def start(self) -> None:
        self.systemctl("start", self.name)

    def stop(self) -> None:
        self.systemctl("stop", self.name)

    def restart(self) -> None:
        self.systemctl("restart", self.name)

    def _show(self) -> dict[str, str]:
        text = self.systemctl("show", self.name, f"--property={SHOW_PROPERTIES}", check=False)
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def status(self) -> ServiceState:
        installed = self.path.exists()
        problems = missing_program(parse_exec_start(self.path.read_text("utf-8"))) if installed else []
        props = self._show()
        pid = int(props.get("MainPID") or 0) or None
        restarts = props.get("NRestarts")
        if props.get("ActiveState") == "failed":
            problems.append(f"the unit failed: see `journalctl --user -u {self.name} -n 50`")
        return ServiceState(
            manager=self.manager,
            name=self.name,
            path=self.path,
            installed=installed,
            loaded=props.get("LoadState") == "loaded",
            active=props.get("ActiveState"),
            sub_state=props.get("SubState"),
            pid=pid,
            restarts=int(restarts) if restarts and restarts.isdigit() else None,
            problems=tuple(problems),
        )

"""`moltbot gateway install|uninstall|start|stop|restart|status`: the unit file's content, the commands sent to
a (fake) service manager, and clear non-zero exits where there is none (this machine: a container)."""

from __future__ import annotations

import os
import plistlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from moltbot.cli import cli
from moltbot.service import LaunchdAgent, ServiceSpec, render_unit
from moltbot.service.systemd import parse_exec_start
from tests.cli.helpers import run_moltbot as _run

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$@" >> "$FAKE_LOG"
if [ "$2" = show-environment ] && [ -n "$FAKE_NO_BUS" ]; then
  echo "Failed to connect to bus: No medium found" >&2; exit 1
fi
if [ "$2" = show ]; then
  printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=4242\\nNRestarts=0\\n'
fi
exit 0
"""
FAKE_LOGINCTL = "#!/bin/sh\necho no\n"


def _configured(tmp_path: Path, env: dict, profile: str | None = None) -> dict:
    """A profile with a local-mode config; the environment a `moltbot [--profile]` process would have."""
    state = tmp_path / (f".clawdbot-{profile}" if profile else ".clawdbot")
    state.mkdir(mode=0o700)
    (state / "moltbot.json").write_text('{gateway: {mode: "local"}}')
    env = {key: value for key, value in env.items() if key != "XDG_CONFIG_HOME"}
    return env


def _fake_bin(tmp_path: Path, *, no_bus: bool) -> tuple[dict, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", FAKE_SYSTEMCTL), ("loginctl", FAKE_LOGINCTL)):
        (bin_dir / name).write_text(text)
        os.chmod(bin_dir / name, 0o755)
    log = tmp_path / "systemctl.log"
    extra = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_LOG": str(log)}
    if no_bus:
        extra["FAKE_NO_BUS"] = "1"
    return extra, log


def test_install_writes_the_profiles_unit_for_this_python(home):
    tmp_path, env = home
    env = _configured(tmp_path, env, "work")
    result = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": "secret-from-the-shell"}, "--profile", "work", "gateway",
                  "install", "--no-start", "--port", "18800")
    assert result.returncode == 0, result.stderr
    unit = tmp_path / ".config" / "systemd" / "user" / "moltbot-gateway-work.service"
    text = unit.read_text()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert parse_exec_start(text) == [sys.executable, "-m", "moltbot", "gateway", "--port", "18800"]
    for line in ("Restart=on-failure", "RestartSec=5", "WantedBy=default.target", "StartLimitBurst=5",
                 "Environment=CLAWDBOT_PROFILE=work", f"Environment=CLAWDBOT_STATE_DIR={tmp_path}/.clawdbot-work",
                 f"Environment=CLAWDBOT_CONFIG_PATH={tmp_path}/.clawdbot-work/moltbot.json",
                 "Environment=CLAWDBOT_SYSTEMD_UNIT=moltbot-gateway-work.service", f"Environment=HOME={tmp_path}"):
        assert line in text.splitlines(), line
    assert "secret-from-the-shell" not in text and "CLAWDBOT_GATEWAY_TOKEN" not in text  # read from the config


def test_without_a_user_bus_install_writes_the_unit_and_the_rest_exit_1(home):
    tmp_path, env = home
    extra, log = _fake_bin(tmp_path, no_bus=True)
    env = {**_configured(tmp_path, env), **extra}
    install = _run(env, "gateway", "install")
    assert install.returncode == 1
    assert (tmp_path / ".config" / "systemd" / "user" / "moltbot-gateway.service").exists()
    assert "the service file is written, but it could not be enabled" in install.stderr
    assert "systemd user manager is not reachable (Failed to connect to bus: No medium found)" in install.stderr
    start = _run(env, "gateway", "start")
    assert start.returncode == 1 and "cannot start moltbot-gateway.service" in start.stderr
    assert "enable-linger" in start.stderr and "foreground" in start.stderr
    assert "daemon-reload" not in log.read_text()  # nothing was attempted past the availability check


def test_without_systemctl_status_says_so_and_exits_1(home):
    tmp_path, env = home
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**_configured(tmp_path, env), "PATH": str(empty)}
    status = _run(env, "gateway", "status", "--no-probe")
    assert status.returncode == 1
    assert "Service: unavailable: systemctl was not found: this system does not run systemd" in status.stdout


def test_with_systemd_install_reloads_enables_restarts_and_status_stop_work(home):
    tmp_path, env = home
    extra, log = _fake_bin(tmp_path, no_bus=False)
    env = {**_configured(tmp_path, env), **extra, "CLAWDBOT_GATEWAY_PORT": "1"}
    install = _run(env, "gateway", "install")
    assert install.returncode == 0, install.stderr
    assert "Enabled and started moltbot-gateway.service" in install.stdout
    assert "sudo loginctl enable-linger" in install.stderr
    calls = log.read_text().splitlines()
    assert calls == ["--user show-environment", "--user daemon-reload", "--user enable moltbot-gateway.service",
                     "--user show moltbot-gateway.service --property=LoadState,ActiveState,SubState,MainPID,NRestarts,"
                     "UnitFileState", "--user restart moltbot-gateway.service"]
    status = _run(env, "gateway", "status", "--no-probe")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Service: systemd moltbot-gateway.service: active (running), pid 4242" in status.stdout
    stop = _run(env, "gateway", "stop")
    assert stop.returncode == 0 and "Stopped moltbot-gateway.service" in stop.stdout
    assert log.read_text().splitlines()[-1] == "--user stop moltbot-gateway.service"


def test_install_refuses_other_settings_without_force_and_an_unconfigured_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("CLAWDBOT_STATE_DIR", "CLAWDBOT_CONFIG_PATH", "CLAWDBOT_PROFILE", "CLAWDBOT_GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    unconfigured = runner.invoke(cli, ["gateway", "install", "--no-start"])
    assert unconfigured.exit_code == 1 and "run `moltbot setup` first" in unconfigured.output
    _configured(tmp_path, {})
    assert runner.invoke(cli, ["gateway", "install", "--no-start"]).exit_code == 0
    again = runner.invoke(cli, ["gateway", "install", "--no-start", "--port", "1234"])
    assert again.exit_code == 1 and "already installed with other settings" in again.output
    assert runner.invoke(cli, ["gateway", "install", "--no-start", "--port", "1234", "--force"]).exit_code == 0


def test_unit_words_are_quoted_and_escaped_for_systemd(tmp_path):
    spec = ServiceSpec.for_this_installation({"HOME": str(tmp_path)}, python="/opt/my env/bin/py%thon")
    text = render_unit(spec)
    assert 'ExecStart="/opt/my env/bin/py%%thon" -m moltbot gateway' in text
    assert parse_exec_start(text)[0] == "/opt/my env/bin/py%thon"


def test_launchd_plist_and_commands(tmp_path):
    calls = []

    def run(argv):
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "state = running\n\tpid = 77\n\truns = 3\n", "")

    agent = LaunchdAgent("work", home=tmp_path, run=run)
    spec = ServiceSpec.for_this_installation({"HOME": str(tmp_path), "CLAWDBOT_PROFILE": "work"})
    agent.write(agent.render(spec))
    plist = plistlib.loads(agent.path.read_bytes())
    assert agent.path == tmp_path / "Library" / "LaunchAgents" / "bot.molt.work.plist"
    assert plist["Label"] == "bot.molt.work" and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["ProgramArguments"] == [sys.executable, "-m", "moltbot", "gateway"]
    assert plist["EnvironmentVariables"]["CLAWDBOT_PROFILE"] == "work"
    agent.enable_and_start()
    domain = f"gui/{os.getuid()}"
    assert calls == [["launchctl", "bootout", f"{domain}/bot.molt.work"],
                     ["launchctl", "enable", f"{domain}/bot.molt.work"],
                     ["launchctl", "bootstrap", domain, str(agent.path)]]
    state = agent.status()
    assert (state.running, state.pid, state.restarts, state.installed) == (True, 77, 2, True)


@pytest.mark.parametrize("profile, unit, label", [(None, "moltbot-gateway.service", "bot.molt.gateway"),
                                                  ("dev", "moltbot-gateway-dev.service", "bot.molt.dev")])
def test_service_names_follow_the_profile(profile, unit, label):
    from moltbot.service import launchd_label, systemd_unit_name

    assert (systemd_unit_name(profile), launchd_label(profile)) == (unit, label)

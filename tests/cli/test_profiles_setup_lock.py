"""Profiles, `moltbot setup`, the single-instance lock, --force, the log file and SIGUSR1, as processes."""

from __future__ import annotations

import json
import signal
import stat
import subprocess

import trio

from moltbot.client import open_gateway_client
from moltbot.config.profiles import apply_profile
from tests.cli.helpers import run_moltbot as _run
from tests.cli.helpers import run_moltbot_process as _run_process
from tests.cli.helpers import start_gateway as _start
from tests.conftest import open_raw


def test_setup_creates_private_files_and_is_idempotent(home):
    tmp_path, env = home
    first = _run(env, "setup", "--non-interactive")
    assert first.returncode == 0, first.stderr
    config_path = tmp_path / ".clawdbot" / "moltbot.json"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_path.parent.stat().st_mode) == 0o700
    data = json.loads(config_path.read_text())
    assert data["gateway"]["mode"] == "local" and len(data["gateway"]["auth"]["token"]) >= 32
    assert data["gateway"]["auth"]["token"] not in first.stdout
    assert "moltbot config get gateway.auth.token" in first.stdout
    second = _run(env, "setup", "--non-interactive")
    assert "Already set up; nothing changed." in second.stdout
    assert json.loads(config_path.read_text()) == data


def test_setup_refuses_to_touch_an_invalid_file(home):
    tmp_path, env = home
    (tmp_path / ".clawdbot").mkdir()
    (tmp_path / ".clawdbot" / "moltbot.json").write_text("{gateway: {port: 'x'}}")
    result = _run(env, "setup", "--non-interactive")
    assert result.returncode == 1 and "gateway.port" in result.stderr
    assert (tmp_path / ".clawdbot" / "moltbot.json").read_text() == "{gateway: {port: 'x'}}"


def test_gateway_refuses_without_local_mode(home):
    _, env = home
    result = _run_process(env, "gateway", "--port", "0")
    assert result.returncode == 1 and "moltbot setup" in result.stderr and "--allow-unconfigured" in result.stderr


def test_profile_env_fills_only_unset_variables(tmp_path):
    env = {"HOME": str(tmp_path)}
    apply_profile("dev", env)
    assert env["CLAWDBOT_STATE_DIR"] == str(tmp_path / ".clawdbot-dev")
    assert env["CLAWDBOT_CONFIG_PATH"] == str(tmp_path / ".clawdbot-dev" / "moltbot.json")
    assert env["CLAWDBOT_GATEWAY_PORT"] == "19001"
    env = {"HOME": str(tmp_path), "CLAWDBOT_STATE_DIR": "/x"}
    apply_profile("work", env)
    assert env["CLAWDBOT_STATE_DIR"] == "/x" and env["CLAWDBOT_CONFIG_PATH"] == "/x/moltbot.json"


def test_bad_profile_names_and_combining_flags_are_refused(home):
    _, env = home
    assert "invalid profile name" in _run(env, "--profile", "../x", "status").stderr
    assert "cannot be combined" in _run(env, "--dev", "--profile", "a", "status").stderr


async def test_dev_profile_is_isolated_from_the_default_one(home):
    tmp_path, env = home
    assert _run(env, "--dev", "setup", "--non-interactive").returncode == 0
    process, url, _ = await _start(env, "--dev", unconfigured=False)
    try:
        status = await trio.to_thread.run_sync(lambda: _run(env, "--dev", "status", "--url", url, "--json"))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["gateway"]["pid"] == process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            await process.wait()
    assert (tmp_path / ".clawdbot-dev" / "moltbot.json").exists()
    assert not (tmp_path / ".clawdbot").exists()
    assert (tmp_path / ".clawdbot-dev" / "logs" / "gateway.log").exists()


async def test_second_gateway_of_a_profile_fails_at_once_naming_the_holder(home):
    _, env = home
    process, url, _ = await _start(env)
    try:
        with trio.fail_after(10):
            second = await trio.to_thread.run_sync(
                lambda: _run_process(env, "gateway", "--port", "0", "--allow-unconfigured"))
        port = url.rsplit(":", 1)[1]
        assert second.returncode == 1
        assert f"gateway already running (pid {process.pid}, port {port})" in second.stderr
    finally:
        process.kill()
        await process.wait()
    # The holder died without cleaning up: the kernel released its lock, so the next start works.
    process, _, _ = await _start(env)
    process.kill()
    await process.wait()


async def test_force_leaves_a_listener_that_is_not_this_profiles_gateway_running(home):
    _, env = home
    squatter = await trio.lowlevel.open_process(
        ["python3", "-c", "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen();"
         "print(s.getsockname()[1], flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        with trio.fail_after(10):
            port = int((await squatter.stdout.receive_some()).decode())
        forced = await trio.to_thread.run_sync(
            lambda: _run_process(env, "gateway", "--allow-unconfigured", "--force", "--port", str(port)))
        assert forced.returncode == 1 and f"served by pid {squatter.pid}" in forced.stderr
        assert squatter.poll() is None  # --force stops only this profile's own gateway (issue 19)
    finally:
        squatter.kill()
        await squatter.wait()


async def test_log_file_has_json_lines_without_secrets(home):
    tmp_path, env = home
    process, url, _ = await _start({**env, "CLAWDBOT_GATEWAY_TOKEN": "very-secret-token-42"})
    try:
        async with open_raw(url) as ws:  # a failed auth attempt gets logged, the token never
            await ws.send(json.dumps({"type": "req", "id": "c", "method": "connect", "params": {
                "minProtocol": 3, "maxProtocol": 7, "auth": {"token": "very-secret-token-42"},
                "client": {"id": "test", "version": "1", "platform": "x", "mode": "test"}}}))
            await ws.response("c")
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            await process.wait()
    lines = (tmp_path / ".clawdbot" / "logs" / "gateway.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert any("listening on" in entry["msg"] for entry in entries)
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in entries)
    assert not any("very-secret-token-42" in line for line in lines)


async def test_sigusr1_restarts_in_process_when_allowed(home):
    tmp_path, env = home
    (tmp_path / ".clawdbot").mkdir()
    (tmp_path / ".clawdbot" / "moltbot.json").write_text(json.dumps(
        {"gateway": {"mode": "local", "auth": {"token": "tok-123456"}}, "commands": {"restart": True}}))
    process, url, _ = await _start(env, unconfigured=False)
    try:
        async with open_raw(url, handshake=True, auth={"token": "tok-123456"}) as ws:
            start = trio.current_time()
            process.send_signal(signal.SIGUSR1)
            with trio.fail_after(5):
                shutdown = await ws.event("shutdown")
                assert await ws.closed() == (1012, "service restart")
        assert shutdown["payload"] == {"reason": "gateway restarting", "restartExpectedMs": 1500}
        with trio.fail_after(5):
            while True:  # reconnect at once; the listener never went away
                try:
                    async with open_gateway_client(url, token="tok-123456") as client:
                        status = await client.call("status")
                        break
                except Exception:
                    await trio.sleep(0.01)
        assert status["gateway"]["pid"] == process.pid and trio.current_time() - start < 5
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            assert await process.wait() == 0

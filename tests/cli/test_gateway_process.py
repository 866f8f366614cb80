"""`moltbot gateway` as a real process: first start on defaults, signals, refusals; `moltbot health/status`."""

from __future__ import annotations

import json
import signal
import stat
import subprocess

import trio

from moltbot.client import open_gateway_client
from tests.cli.helpers import MOLTBOT
from tests.cli.helpers import run_moltbot as _run
from tests.cli.helpers import run_moltbot_process as _run_process
from tests.cli.helpers import start_gateway as _start
from tests.conftest import open_raw


async def test_first_start_generates_token_then_sigterm_stops_gracefully(home):
    tmp_path, env = home
    process, url, seen = await _start(env)
    try:
        config_path = tmp_path / ".clawdbot" / "moltbot.json"
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(config_path.parent.stat().st_mode) == 0o700
        token = json.loads(config_path.read_text())["gateway"]["auth"]["token"]
        assert len(token) >= 32 and token.encode() not in seen  # stored, never printed
        assert b"moltbot config get gateway.auth.token" in seen

        health = _run(env, "health", "--url", url)
        assert health.returncode == 0 and "Gateway health: ok" in health.stdout
        status = json.loads(_run(env, "status", "--url", url, "--json").stdout)
        assert status["gateway"]["pid"] == process.pid

        async with open_raw(url, handshake=True, auth={"token": token}) as ws:
            start = trio.current_time()
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(5):
                shutdown = await ws.event("shutdown")
                assert await ws.closed() == (1012, "service restart")
                assert await process.wait() == 0
        assert trio.current_time() - start < 5
        assert shutdown["payload"] == {"reason": "gateway stopping", "restartExpectedMs": None}
    finally:
        process.kill()


async def test_second_start_reuses_the_stored_token(home):
    tmp_path, env = home
    for _ in range(2):
        process, url, _ = await _start(env)
        token = json.loads((tmp_path / ".clawdbot" / "moltbot.json").read_text())["gateway"]["auth"]["token"]
        async with open_gateway_client(url, token=token) as client:
            assert (await client.call("health"))["ok"]
        process.send_signal(signal.SIGINT)
        with trio.fail_after(5):
            assert await process.wait() == 0


async def test_token_flag_and_env_token(home):
    _, env = home
    process, url, _ = await _start({**env, "CLAWDBOT_GATEWAY_TOKEN": "from-env-token"})
    try:
        result = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": "from-env-token"}, "gateway", "call", "health", "--url", url)
        assert result.returncode == 0 and json.loads(result.stdout)["ok"] is True
        wrong = _run(env, "health", "--url", url, "--token", "wrong")
        assert wrong.returncode == 1 and "unauthorized: gateway token mismatch" in wrong.stderr
    finally:
        process.kill()


def test_non_loopback_bind_without_auth_is_refused(home):
    tmp_path, env = home
    result = _run_process(env, "gateway", "--bind", "lan", "--port", "0", "--allow-unconfigured")
    assert result.returncode == 1 and "refusing to bind gateway to 0.0.0.0" in result.stderr
    assert not (tmp_path / ".clawdbot" / "moltbot.json").exists()
    # Only the refusal: the clear-text warning is for a gateway that starts.
    assert "warning" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_non_loopback_bind_in_password_mode_without_a_password_names_the_password(home):
    _, env = home
    result = _run_process(env, "gateway", "--bind", "lan", "--auth", "password", "--port", "0",
                          "--allow-unconfigured")
    assert result.returncode == 1 and "refusing to bind gateway to 0.0.0.0" in result.stderr
    assert "--password" in result.stderr and "--token" not in result.stderr, result.stderr


def test_invalid_config_lists_every_problem_and_exits_1(home):
    tmp_path, env = home
    (tmp_path / ".clawdbot").mkdir()
    (tmp_path / ".clawdbot" / "moltbot.json").write_text('{gateway: {port: "x", bind: "moon"}}')
    result = _run_process(env, "gateway", "--allow-unconfigured")
    assert result.returncode == 1
    assert "gateway.port" in result.stderr and "gateway.bind" in result.stderr


async def test_port_in_use_is_reported(home):
    _, env = home
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = await trio.to_thread.run_sync(
            lambda: _run_process({**env, "CLAWDBOT_GATEWAY_TOKEN": "t", "CLAWDBOT_ALLOW_MULTI_GATEWAY": "1"},
                         "gateway", "--port", str(port), "--allow-unconfigured"))
    assert result.returncode == 1 and f"port {port} is already in use" in result.stderr


def test_health_reports_unreachable_gateway(home):
    _, env = home
    result = _run(env, "health", "--url", "ws://127.0.0.1:9", "--token", "t", "--timeout", "2000")
    assert result.returncode == 1 and "unreachable" in result.stderr


def test_module_entry_point_shows_help():
    result = subprocess.run([*MOLTBOT, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "gateway" in result.stdout


def test_config_get_reads_a_value(home):
    tmp_path, env = home
    (tmp_path / ".clawdbot").mkdir()
    (tmp_path / ".clawdbot" / "moltbot.json").write_text('{gateway: {auth: {token: "abc"}}} // json5')
    assert _run(env, "config", "get", "gateway.auth.token").stdout.strip() == "abc"
    missing = _run(env, "config", "get", "gateway.nope")
    assert missing.returncode == 1 and "not set" in missing.stderr



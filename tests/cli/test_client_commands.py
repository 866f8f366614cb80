"""`moltbot status/health/logs/agent/gateway call/dashboard/doctor` as processes against a real gateway.

One gateway process serves the read-only tests of this module (started once: a process start costs
seconds); the tests that stop or break things start their own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

import attrs
import pytest
import trio

from moltbot.config.load import parse_json5
from moltbot.config.model import BrowserConfig
from moltbot.gateway.app import open_gateway
from moltbot.store.lock import acquire_gateway_lock, lock_path
from tests.cli.helpers import MOLTBOT, restore_sigint
from tests.cli.helpers import run_moltbot as _run
from tests.cli.helpers import run_moltbot_process as _run_process
from tests.conftest import TOKEN, installed_gateway_log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(env, url) of one gateway process in a temp HOME, for this module's read-only tests."""
    home = tmp_path_factory.mktemp("home")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(home)
    assert _run(env, "setup", "--non-interactive").returncode == 0
    process = subprocess.Popen([*MOLTBOT, "gateway", "--port", "0"], env=env, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    seen, deadline = b"", time.monotonic() + 20
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while not (match := re.search(rb"listening on (ws://127\.0\.0\.1:(\d+))", seen)):
            assert time.monotonic() < deadline and selector.select(deadline - time.monotonic()), seen
            chunk = os.read(process.stderr.fileno(), 65536)
            assert chunk, f"gateway exited early: {seen.decode()}"
            seen += chunk
    env["CLAWDBOT_GATEWAY_PORT"] = match.group(2).decode()
    yield env, match.group(1).decode(), process
    process.terminate()
    process.wait(10)


def test_status_prints_lanes_and_error_counts_plainly_when_piped(served):
    env, _, process = served
    result = _run(env, "status")
    assert result.returncode == 0, result.stderr
    assert f"(pid {process.pid})" in result.stdout and "Errors since start: handler 0" in result.stdout
    assert re.search(r"^Lane\s+Queued\s+Active\s+Done\s+Errors$", result.stdout, re.MULTILINE)
    assert re.search(r"^main\s+0\s+0/4\s+", result.stdout, re.MULTILINE)
    assert "\x1b[" not in result.stdout and "┃" not in result.stdout  # no colours, no box drawing in a pipe


def test_health_and_dashboard(served):
    env, _, _ = served
    health = _run(env, "health")
    assert health.returncode == 0 and "Gateway health: ok" in health.stdout
    dashboard = _run(env, "dashboard")
    # The token rides once in the fragment (never sent to the server, so never in an access log).
    assert re.fullmatch(rf"http://127\.0\.0\.1:{env['CLAWDBOT_GATEWAY_PORT']}/#token=[A-Za-z0-9_%-]+",
                        dashboard.stdout.strip()), dashboard.stdout
    bare = json.loads(_run(env, "dashboard", "--json", "--no-token").stdout)
    assert bare == {"url": f"http://127.0.0.1:{env['CLAWDBOT_GATEWAY_PORT']}/", "enabled": True}


def test_dashboard_open_hands_the_url_to_the_browser(served, tmp_path):
    env, _, _ = served
    opened = tmp_path / "opened.txt"
    # $BROWSER is the webbrowser module's override: a command with %s for the URL.
    browser = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"w\").write(sys.argv[2])' {opened} %s"
    result = _run({**env, "BROWSER": browser}, "dashboard", "--open")
    assert result.returncode == 0, result.stderr
    assert opened.read_text() == result.stdout.strip() and "#token=" in opened.read_text()


def test_gateway_call_with_params_and_expect_final(served):
    env, _, _ = served
    tail = _run(env, "gateway", "call", "logs.tail", "--params", '{"limit": 1}')
    assert tail.returncode == 0 and len(json.loads(tail.stdout)["lines"]) == 1
    final = _run(env, "gateway", "call", "agent", "--expect-final", "--params",
                 json.dumps({"message": "hi", "idempotencyKey": "cli-call-1"}))
    assert json.loads(final.stdout)["status"] == "ok"
    refused = _run(env, "gateway", "call", "logs.tail", "--params", '{"limit": 0}')
    assert refused.returncode == 1 and "INVALID_REQUEST" in refused.stderr
    assert _run(env, "gateway", "call", "health", "--no-such-flag").returncode == 2  # usage error


def test_logs_prints_the_gateways_own_lines_for_people_and_as_json(served):
    env, url, _ = served
    plain = _run(env, "logs", "--limit", "50")
    assert plain.returncode == 0
    assert re.search(rf" info +moltbot\.gateway: gateway listening on {url}", plain.stdout)
    records = [json.loads(line) for line in _run(env, "logs", "--json", "--limit", "50").stdout.splitlines()]
    assert records[0]["type"] == "meta" and records[0]["file"].endswith("logs/gateway.log")
    assert any(r["type"] == "log" and r["msg"].startswith(f"gateway listening on {url} (auth: token") for r in records)


def test_agent_streams_the_reply(served):
    env, _, _ = served
    streamed = _run(env, "agent", "-m", "hello there", "--session", "agent:main:cli-test")
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.endswith("You said: hello there\n")


def test_wrong_token_names_its_source(served):
    env, _, _ = served
    result = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": "not-the-token"}, "status")
    assert result.returncode == 1 and "token mismatch" in result.stderr
    assert "the token sent came from CLAWDBOT_GATEWAY_TOKEN" in result.stderr
    assert "differs from gateway.auth.token" in result.stderr


def test_doctor_is_clean_on_a_running_gateway_and_spots_token_confusion(served):
    env, _, process = served
    clean = _run(env, "doctor")
    assert clean.returncode == 0, clean.stdout
    assert f"ok    lock: held by the running gateway, pid {process.pid}" in clean.stdout
    assert f"this profile's gateway (pid {process.pid})" in clean.stdout
    assert "ok    gateway: answers at" in clean.stdout
    confused = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": "x" * 40}, "doctor", "--json")
    findings = json.loads(confused.stdout)["findings"]
    assert confused.returncode == 1
    assert any(f["check"] == "token" and "differs from gateway.auth.token" in f["detail"] for f in findings)
    assert any(f["check"] == "gateway" and f["status"] == "fail" and "token mismatch" in f["detail"]
               for f in findings)


def test_doctor_finds_and_fixes_permissions_stale_lock_and_weak_token(home):
    tmp_path, env = home
    env = {**env, "CLAWDBOT_GATEWAY_PORT": str(_free_port())}
    state = tmp_path / ".clawdbot"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    config_path = state / "moltbot.json"
    config_path.write_text('{gateway: {mode: "local", auth: {token: "changeme"}}}')
    stale = lock_path(config_path)
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(json.dumps({"pid": 999_999_999, "port": 1}))
    try:
        found = _run(env, "doctor")
        assert found.returncode == 1
        assert "fail  permissions: state dir" in found.stdout and "fix: chmod 700" in found.stdout
        assert "fail  token: gateway.auth.token is weak: a well-known word" in found.stdout
        assert "warn  lock: stale lock record" in found.stdout
        fixed = _run(env, "doctor", "--fix")
        assert "fixed: permissions: chmod 700" in fixed.stdout and not stale.exists()
        assert oct(state.stat().st_mode & 0o777) == "0o700"
        assert fixed.returncode == 1  # the weak token is not replaced without being asked
        assert parse_json5(config_path.read_text())["gateway"]["auth"]["token"] == "changeme"
        regenerated = _run(env, "doctor", "--generate-gateway-token")
        assert regenerated.returncode == 0, regenerated.stdout
        assert len(json.loads(config_path.read_text())["gateway"]["auth"]["token"]) >= 32
    finally:
        stale.unlink(missing_ok=True)


def test_doctor_reports_a_lock_holder_that_does_not_serve_its_port(home):
    tmp_path, env = home
    port = _free_port()
    env = {**env, "CLAWDBOT_GATEWAY_PORT": str(port)}
    (tmp_path / ".clawdbot").mkdir(mode=0o700)
    (tmp_path / ".clawdbot" / "moltbot.json").write_text('{gateway: {mode: "local", auth: {token: "%s"}}}' % ("0123456789abcdef" * 3))
    lock = acquire_gateway_lock(tmp_path / ".clawdbot" / "moltbot.json", env={})
    try:
        lock.update(port=port)
        result = _run(env, "doctor")
        assert result.returncode == 1
        assert f"gateway pid {os.getpid()} holds the lock but does not listen on port {port}" in result.stdout
        assert f"fix: kill {os.getpid()}" in result.stdout
    finally:
        lock.release()


def test_doctor_warns_when_the_canvas_port_is_taken(home):
    tmp_path, env = home
    env = {**env, "CLAWDBOT_GATEWAY_PORT": str(_free_port())}
    (tmp_path / ".clawdbot").mkdir(mode=0o700)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        (tmp_path / ".clawdbot" / "moltbot.json").write_text(
            json.dumps({"gateway": {"mode": "local", "auth": {"token": "0123456789abcdef" * 3}},
                        "canvasHost": {"port": port}}))
        # A process: the squatter is this test process, and doctor does not count its own process as one.
        result = _run_process(env, "doctor")
    assert f"warn  canvas: canvas port {port} is used by pid {os.getpid()}" in result.stdout, result.stdout
    assert "canvasHost.port" in result.stdout
    skipped = _run({**env, "CLAWDBOT_SKIP_CANVAS_HOST": "1"}, "doctor")
    assert "skip  canvas: the canvas host is disabled" in skipped.stdout


async def test_logs_follow_survives_a_gateway_restart_and_ctrl_c_exits_130(make_config, tmp_path):
    """The follower is a real process (Ctrl-C, exit 130); the gateways are in this process, the second on
    the first one's port, so the restart takes milliseconds and the follower's first retry (1 s) finds it."""
    config = attrs.evolve(make_config(), browser=BrowserConfig(enabled=False))  # no ports beside the fixed one
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path / "home")
    with installed_gateway_log(config, verbose=False, env={}), trio.fail_after(60):  # one process start
        async with open_gateway(config, port=0, env={}) as first:
            port, url = first.port, first.url
            follower = await trio.lowlevel.open_process(
                [*MOLTBOT, "logs", "--follow", "--interval", "100", "--url", url, "--token", TOKEN], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                preexec_fn=restore_sigint)
            try:
                shown = await _read_until(follower.stdout, b"", rb"gateway listening on", 1)
                logging.getLogger("moltbot.gateway").info("the first gateway is stopping")
            except BaseException:
                follower.kill()
                raise
        try:
            logging.getLogger("moltbot.gateway").info("no gateway serves this line's file")
            async with open_gateway(config, port=port, env={}):
                shown = await _read_until(follower.stdout, shown, rb"gateway listening on", 2)
                # The lines written while the follower was reconnecting are all there, in order.
                assert re.search(rb"the first gateway is stopping\n.*no gateway serves this line's file\n"
                                 rb".*gateway listening on", shown, re.DOTALL), shown.decode()
                follower.send_signal(signal.SIGINT)
                assert await follower.wait() == 130
            errors = b""
            while chunk := await follower.stderr.receive_some():
                errors += chunk
            assert b"reconnected to the gateway" in errors, errors.decode()
        finally:
            if follower.returncode is None:
                follower.kill()


async def _read_until(stream, seen: bytes, pattern: bytes, count: int) -> bytes:
    while len(re.findall(pattern, seen)) < count:
        chunk = await stream.receive_some()
        assert chunk, seen.decode()
        seen += chunk
    return seen

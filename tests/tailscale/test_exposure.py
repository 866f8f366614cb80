"""Serve/Funnel at start (a fake ``tailscale`` CLI), the tailnet bind (the fake tailscaled), the refusals,
the clear-text warning and doctor's exposure finding, through the real ``moltbot`` command line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import click
import pytest
import trio

from moltbot.cli.remote_access import check_remote_access
from moltbot.config.model import GatewayConfig, TailscaleConfig, TlsConfig
from moltbot.tailscale.bind import interface_address
from tests.cli.helpers import MOLTBOT

FAKE_CLI = """#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if {fail!r}:
    print({fail!r}, file=sys.stderr)
    sys.exit(1)
if sys.argv[1:3] == ["ip", "-4"]:
    print("127.0.0.3")
"""
LISTENING = re.compile(rb"listening on ws://([\d.]+):(\d+)")


@pytest.fixture
def fake_cli(tmp_path):
    """Write a fake ``tailscale`` CLI that records its arguments; returns (path, recorded calls)."""

    def make(fail: str = "") -> tuple[str, callable]:
        log = tmp_path / "tailscale-calls.jsonl"
        script = tmp_path / "tailscale"
        script.write_text(FAKE_CLI.format(python=sys.executable, log=str(log), fail=fail))
        script.chmod(0o755)
        return str(script), lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return make


def write_config(home_dir, **gateway) -> None:
    state = home_dir / ".clawdbot"
    state.mkdir(mode=0o700, exist_ok=True)
    (state / "moltbot.json").write_text(json.dumps({"gateway": {"mode": "local", **gateway}}))
    (state / "moltbot.json").chmod(0o600)


async def start(env: dict, *args: str) -> tuple[trio.Process, bytearray, re.Match[bytes]]:
    process = await trio.lowlevel.open_process([*MOLTBOT, "gateway", "--port", "0", *args], env=env,
                                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    seen = bytearray()
    with trio.fail_after(20):
        while not (match := LISTENING.search(seen)):
            chunk = await process.stderr.receive_some()
            assert chunk, f"gateway exited early: {seen.decode()}"
            seen += chunk
    return process, seen, match


async def read_until(process: trio.Process, seen: bytearray, needle: bytes) -> None:
    with trio.fail_after(20):
        while needle not in seen:
            chunk = await process.stderr.receive_some()
            assert chunk, f"no {needle!r} in: {seen.decode()}"
            seen += chunk


async def stop(process: trio.Process, seen: bytearray) -> None:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(15):
        async for chunk in process.stderr:
            seen += chunk
        assert await process.wait() == 0, seen.decode()


async def test_serve_is_published_once_listening_and_reset_on_exit(home, tailscaled, fake_cli):
    home_dir, env = home
    cli, calls = fake_cli()
    env["MOLTBOT_TAILSCALE_CLI"] = cli
    write_config(home_dir, tailscale={"socket": tailscaled.socket_path})
    process, seen, match = await start(env, "--tailscale", "serve", "--tailscale-reset-on-exit")
    try:
        port = match.group(2).decode()
        await read_until(process, seen, b"tailscale serve enabled")
        assert calls() == [["serve", "--bg", "--yes", port]]
        assert b"https://gateway-host.example-tailnet.ts.net/" in seen
    finally:
        await stop(process, seen)
    assert calls()[-1] == ["serve", "reset"]
    assert b"tailscale serve reset" in seen


async def test_serve_is_left_in_place_without_reset_on_exit(home, tailscaled, fake_cli):
    home_dir, env = home
    cli, calls = fake_cli()
    env["MOLTBOT_TAILSCALE_CLI"] = cli
    write_config(home_dir, tailscale={"mode": "serve", "socket": tailscaled.socket_path})
    process, seen, _ = await start(env)
    try:
        await read_until(process, seen, b"tailscale serve enabled")
    finally:
        await stop(process, seen)
    assert [call[:1] for call in calls()] == [["serve"]]


async def test_a_missing_cli_is_reported_and_the_gateway_keeps_serving_loopback(home, tailscaled, tmp_path):
    home_dir, env = home
    env["MOLTBOT_TAILSCALE_CLI"] = str(tmp_path / "no-such-tailscale")
    write_config(home_dir, tailscale={"socket": tailscaled.socket_path})
    process, seen, _ = await start(env, "--tailscale", "serve")
    try:
        await read_until(process, seen, b"tailscale serve failed: the tailscale CLI is not at")
    finally:
        await stop(process, seen)
    assert seen.count(b"tailscale serve failed") == 1, seen.decode()  # said once, not by the log and again


async def test_a_missing_daemon_is_reported(home, fake_cli, socket_dir):
    home_dir, env = home
    cli, calls = fake_cli()
    env["MOLTBOT_TAILSCALE_CLI"] = cli
    write_config(home_dir, tailscale={"socket": str(socket_dir / "absent.sock")})
    process, seen, _ = await start(env, "--tailscale", "serve")
    try:
        await read_until(process, seen, b"tailscale serve failed: tailscaled is not reachable: no tailscaled socket")
    finally:
        await stop(process, seen)
    assert calls() == []  # nothing was asked of a CLI whose daemon is not there


async def test_a_failing_cli_is_reported_with_the_fix(home, tailscaled, fake_cli):
    home_dir, env = home
    cli, _ = fake_cli(fail="Access denied: serve config denied")
    env["MOLTBOT_TAILSCALE_CLI"] = cli
    write_config(home_dir, tailscale={"socket": tailscaled.socket_path})
    process, seen, _ = await start(env, "--tailscale", "serve")
    try:
        await read_until(process, seen, b"sudo tailscale set --operator=$USER")
    finally:
        await stop(process, seen)


async def test_funnel_without_password_auth_is_refused(home):
    home_dir, env = home
    write_config(home_dir)
    result = await trio.run_process([*MOLTBOT, "gateway", "--port", "0", "--tailscale", "funnel"], env=env,
                                    capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 1
    assert b"refusing tailscale funnel without password auth" in result.stderr


async def test_tailnet_bind_listens_on_the_address_tailscaled_names(home, tailscaled):
    home_dir, env = home
    tailscaled.self_ips = ["127.0.0.2"]  # a loopback alias stands in for a 100.x address this host lacks
    write_config(home_dir, tailscale={"socket": tailscaled.socket_path})
    process, seen, match = await start(env, "--bind", "tailnet", "--token", "tailnet-token-0123456789")
    try:
        assert match.group(1) == b"127.0.0.2"
        assert b"tailnet address 127.0.0.2 (from tailscaled status)" in seen
    finally:
        await stop(process, seen)


async def test_tailnet_bind_asks_the_cli_when_tailscaled_has_no_socket(home, fake_cli, socket_dir):
    home_dir, env = home
    cli, calls = fake_cli()
    env["MOLTBOT_TAILSCALE_CLI"] = cli
    write_config(home_dir, tailscale={"socket": str(socket_dir / "absent.sock")})
    process, seen, match = await start(env, "--bind", "tailnet", "--token", "tailnet-token-0123456789")
    try:
        assert match.group(1) == b"127.0.0.3" and ["ip", "-4"] in calls()
    finally:
        await stop(process, seen)


async def test_an_unbindable_tailnet_address_falls_back_to_loopback(home, tailscaled):
    home_dir, env = home
    tailscaled.self_ips = ["100.64.77.77"]  # not an address of this machine
    write_config(home_dir, tailscale={"socket": tailscaled.socket_path})
    process, seen, match = await start(env, "--bind", "tailnet", "--token", "tailnet-token-0123456789")
    try:
        assert match.group(1) == b"127.0.0.1"
    finally:
        await stop(process, seen)
    assert b"100.64.77.77 cannot be bound here: listening on 127.0.0.1 instead" in seen


async def test_no_tailnet_address_falls_back_to_loopback_and_says_why_once(home, socket_dir, tmp_path):
    if interface_address() is not None:
        pytest.skip("this machine has a tailnet address on an interface")
    home_dir, env = home
    env["MOLTBOT_TAILSCALE_CLI"] = str(tmp_path / "no-such-tailscale")
    write_config(home_dir, tailscale={"socket": str(socket_dir / "absent.sock")})
    process, seen, match = await start(env, "--bind", "tailnet", "--token", "tailnet-token-0123456789")
    try:
        assert match.group(1) == b"127.0.0.1"
    finally:
        await stop(process, seen)
    assert seen.count(b"no tailnet address") == 1, seen.decode()
    assert b"no tailscaled socket at" in seen and b"listening on 127.0.0.1 instead" in seen
    log = (home_dir / ".clawdbot" / "logs" / "gateway.log").read_text()
    assert log.count("no tailnet address found: no tailscaled socket at") == 1, log  # the file has it too


def test_a_bind_beyond_loopback_without_tls_warns_with_the_fix(capsys):
    check_remote_access(GatewayConfig(bind="lan"), "0.0.0.0", 18789, "token")
    warning = capsys.readouterr().err
    assert "without TLS or Tailscale" in warning and "--tailscale serve" in warning
    check_remote_access(GatewayConfig(bind="lan", tls=TlsConfig(enabled=True)), "0.0.0.0", 18789, "token")
    check_remote_access(GatewayConfig(bind="tailnet"), "100.64.0.9", 18789, "token")
    check_remote_access(GatewayConfig(), "127.0.0.1", 18789, "token")
    assert capsys.readouterr().err == ""


def test_serve_beyond_loopback_is_refused():
    with pytest.raises(click.ClickException, match="refusing tailscale serve with the gateway bound to 0.0.0.0"):
        check_remote_access(GatewayConfig(bind="lan", tailscale=TailscaleConfig(mode="serve")), "0.0.0.0", 1, "token")


async def test_doctor_explains_the_exposure(home, tailscaled):
    home_dir, env = home
    write_config(home_dir, bind="lan", auth={"token": "doctor-token-0123456789abcdef"},
                 tailscale={"socket": tailscaled.socket_path}, )
    result = await trio.run_process([*MOLTBOT, "doctor", "--json"], env=env, capture_stdout=True,
                                    capture_stderr=True, check=False)
    findings = {f["check"]: f for f in json.loads(result.stdout)["findings"] if f["check"] == "exposure"}
    exposure = findings["exposure"]
    assert exposure["status"] == "warn"
    assert "bound to 0.0.0.0 (every interface)" in exposure["detail"] and "clear text" in exposure["detail"]
    assert "--tailscale serve" in exposure["fix"]


async def test_doctor_checks_tailscaled_when_identity_auth_is_on(home, tailscaled, socket_dir):
    home_dir, env = home
    write_config(home_dir, auth={"token": "doctor-token-0123456789abcdef", "allowTailscale": True},
                 tailscale={"socket": tailscaled.socket_path})
    result = await trio.run_process([*MOLTBOT, "doctor", "--json"], env=env, capture_stdout=True,
                                    capture_stderr=True, check=False)
    findings = [f for f in json.loads(result.stdout)["findings"] if f["check"] in ("exposure", "tailscale")]
    assert findings[0]["status"] == "ok" and "only programs on this machine" in findings[0]["detail"]
    assert "Tailscale identity" in findings[0]["detail"]
    assert findings[1]["status"] == "ok" and "gateway-host.example-tailnet.ts.net" in findings[1]["detail"]

"""`moltbot logs` with the gateway down (issue 19, item 6): it says so and reads the local log file, naming
it; `--follow` tails the file across rotation."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest
import trio

from tests.cli.helpers import MOLTBOT, restore_sigint, run_moltbot, spawned_as_a_background_job


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entry(msg: str) -> str:
    return json.dumps({"ts": "2026-12-02T00:00:00.000+00:00", "level": "info", "logger": "moltbot.gateway",
                       "msg": msg}) + "\n"


@pytest.fixture
def home(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    env["NO_COLOR"] = "1"
    state = tmp_path / ".clawdbot"
    (state / "logs").mkdir(parents=True)
    (state / "moltbot.json").write_text(json.dumps({"gateway": {"port": closed_port(), "auth": {"token": "t" * 32}}}))
    return state / "logs" / "gateway.log", env


def test_logs_reads_the_local_file_when_the_gateway_is_down(home):
    log, env = home
    log.write_text(entry("first line") + entry("gateway crashed: out of luck"))
    result = run_moltbot(env, "logs")
    assert result.returncode == 0, result.stderr
    assert "gateway unreachable" in result.stderr and f"reading the local log file {log}" in result.stderr
    assert "first line" in result.stdout and "gateway crashed: out of luck" in result.stdout
    as_json = [json.loads(line) for line in run_moltbot(env, "logs", "--json", "--limit", "1").stdout.splitlines()]
    assert as_json[0] == {"type": "meta", "file": str(log), "cursor": log.stat().st_size, "size": log.stat().st_size,
                          "truncated": False, "reset": False, "source": "file"}
    assert [line["msg"] for line in as_json[1:]] == ["gateway crashed: out of luck"]


def test_no_local_file_is_an_error_naming_it(home):
    log, env = home
    result = run_moltbot(env, "logs")
    assert result.returncode == 1 and f"no log file at {log}" in result.stderr
    assert "Traceback" not in result.stderr


async def read_until(stream, seen: bytearray, needle: bytes) -> None:
    with trio.fail_after(20):
        while needle not in seen:
            chunk = await stream.receive_some()
            assert chunk, seen.decode()
            seen += chunk


async def test_follow_tails_the_local_file_across_rotation(home):
    log, env = home
    log.write_text(entry("before"))
    with spawned_as_a_background_job():  # as in a CI step's `pytest … &`: Ctrl-C must land all the same
        process = await trio.lowlevel.open_process([*MOLTBOT, "logs", "--follow", "--interval", "50"], env=env,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   preexec_fn=restore_sigint)
    out, err = bytearray(), bytearray()
    try:
        await read_until(process.stdout, out, b"before")
        await read_until(process.stderr, err, str(log).encode())
        with log.open("a") as file:
            file.write(entry("appended"))
        await read_until(process.stdout, out, b"appended")
        with log.open("a") as file:
            file.write(entry("last of the old file"))
        log.rename(log.with_name("gateway.log.1"))
        log.write_text(entry("in the new file"))
        await read_until(process.stdout, out, b"in the new file")
        assert b"last of the old file" in out
        await read_until(process.stderr, err, b"rotated")
        process.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            assert await process.wait() == 130
    finally:
        process.kill()

"""`moltbot conformance` (in-process, click's runner) and examples/run_conformance.py (a real process: a
script run as a user runs it) against an in-process gateway."""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import trio

from tests.cli_inprocess import run_cli_inprocess
from tests.conftest import CLI_DEADLINE_S, TOKEN, gateway_fixture

gateway = gateway_fixture(CLI_DEADLINE_S)  # one test starts a script as a process

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "run_conformance.py"


@pytest.fixture
def home(tmp_path):
    """An environment whose HOME is empty, so no local config or token leaks into the command."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    return tmp_path, env


async def _run(args: list[str], env: dict) -> trio.Process:
    with trio.fail_after(60):
        return await trio.run_process(args, env=env, check=False, capture_stdout=True, capture_stderr=True)


async def test_cli_prints_a_table_writes_junit_and_exits_0(gateway, home, tmp_path):
    _, env = home
    junit = tmp_path / "conformance.xml"
    result = await run_cli_inprocess(env, "conformance", "--url", gateway.url, "--token", TOKEN, "--only", "handshake",
                                     "--only", "auth.wrong_secret", "--junit", str(junit), "--protocol", "3",
                                     "--protocol", "7")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "PASS    handshake.challenge" in out and "PASS    auth.wrong_secret" in out
    assert "SKIP    handshake.timeout" in out  # 15 s default timeout > 5 s max wait
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) == len(list(suite.iter("testcase")))


async def test_cli_json_output_and_exit_1_on_failure(gateway, home):
    _, env = home
    result = await run_cli_inprocess(env, "conformance", "--url", gateway.url, "--token", "wrong", "--json",
                                     "--only", "handshake.challenge", "--frame-timeout", "10")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["results"][0]["name"] == "connect.probe"
    assert "unauthorized" in report["results"][0]["reason"]


async def test_cli_lists_checks(home):
    _, env = home
    result = await run_cli_inprocess(env, "conformance", "--list")
    assert result.returncode == 0 and "handshake.hello_ok[vN]" in result.stdout


async def test_example_runs_the_harness(gateway):
    result = await _run([sys.executable, str(EXAMPLE), gateway.url, TOKEN, "session"], None)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "PASS    session.unknown_method" in out

"""``--disposable``: the side-effect methods run only against a target the user said may be changed."""

from __future__ import annotations

import os

import trio

from moltbot.conformance import Target, run_conformance
from tests.cli_inprocess import run_cli_inprocess
from tests.conftest import TOKEN, gateway_fixture

gateway = gateway_fixture(60)  # each test runs part of the conformance suite (seconds)

SIDE_EFFECTS = ["methods.sessions.patch", "methods.sessions.reset", "methods.wake", "methods.node.pair.request",
                "methods.node.pair.approve", "methods.device.pair.reject", "methods.cron.add",
                "methods.cron.remove", "methods.send", "methods.chat.abort"]


async def test_side_effect_methods_are_skipped_unless_the_target_is_disposable(gateway):
    with trio.fail_after(60):
        report = await run_conformance(Target(gateway.url, token=TOKEN), checks=SIDE_EFFECTS, protocol_versions=(7,))
    results = [result for result in report.results if result.name in SIDE_EFFECTS]  # not the .params checks
    assert len(results) == len(SIDE_EFFECTS)
    for result in results:
        assert result.status == "skip" and "run with --disposable" in result.reason, report.table()


async def test_a_disposable_target_gets_every_side_effect_method_called(gateway):
    with trio.fail_after(60):
        report = await run_conformance(Target(gateway.url, token=TOKEN, disposable=True), checks=SIDE_EFFECTS,
                                       protocol_versions=(7,))
    assert report.ok, report.table()
    assert all(report[name].status == "pass" for name in SIDE_EFFECTS), report.table()
    # Samples naming nothing that exists pass when refused in a well-formed way.
    assert report["methods.node.pair.approve"].reason.startswith("refused as expected: INVALID_REQUEST")
    assert report["methods.sessions.patch"].reason == "result matches the spec"


def _env(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    return env


async def test_cli_disposable_must_repeat_the_target_url(gateway, tmp_path):
    # In-process (click's runner): the option check and the run are the command's own; exit codes as a process's.
    base = ["conformance", "--url", gateway.url, "--token", TOKEN, "--protocol", "7"]
    refused = await run_cli_inprocess(_env(tmp_path), *base, "--disposable", "ws://127.0.0.1:1")
    ran = await run_cli_inprocess(_env(tmp_path), *base, "--disposable", gateway.url, "--only", "methods.wake")
    assert refused.returncode == 2
    assert "--disposable must repeat the target URL" in refused.stderr
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "PASS    methods.wake" in ran.stdout

"""``moltbot cron …``: flags to params (pure), and the commands against a running gateway."""

import json
import os
import subprocess

import click
import pytest

from moltbot.cli.cron import add_params, edit_patch, parse_at_ms, parse_duration_ms
from tests.cli_inprocess import run_cli_inprocess
from tests.conftest import TOKEN

ADD_DEFAULTS = dict(name="n", description=None, disabled=False, delete_after_run=False, agent=None,
                    session="main", wake="next-heartbeat", at=None, every=None, cron=None, tz=None,
                    system_event=None, message=None, thinking=None, model=None, timeout_seconds=None,
                    deliver=False, channel=None, to=None, best_effort_deliver=False, post_prefix=None,
                    post_mode=None, post_max_chars=None, catch_up=None)
EDIT_DEFAULTS = {**{key: None for key in ADD_DEFAULTS}, "enable": False, "disable": False, "clear_agent": False}


def test_durations_and_times():
    assert parse_duration_ms("10m") == 600_000 and parse_duration_ms("1.5h") == 5_400_000
    assert parse_duration_ms("10") is None and parse_duration_ms("soon") is None
    assert parse_at_ms("+20m", now_ms=1_000) == 1_201_000
    assert parse_at_ms("2030-01-01T00:00:00Z") == 1_893_456_000_000


def test_add_builds_the_originals_params():
    params = add_params({**ADD_DEFAULTS, "cron": "0 9 * * 1-5", "tz": "Europe/Berlin", "session": "isolated",
                         "message": "Morning brief", "to": "+1555", "deliver": True, "catch_up": False})
    assert params == {
        "name": "n", "enabled": True, "sessionTarget": "isolated", "wakeMode": "next-heartbeat", "catchUp": False,
        "schedule": {"kind": "cron", "expr": "0 9 * * 1-5", "tz": "Europe/Berlin"},
        "payload": {"kind": "agentTurn", "message": "Morning brief", "deliver": True, "to": "+1555"}}


@pytest.mark.parametrize(("changes", "message"), [
    ({"system_event": "x"}, "Choose exactly one schedule"),
    ({"every": "5m", "at": "10m", "system_event": "x"}, "Choose exactly one schedule"),
    ({"every": "5m"}, "Choose exactly one payload"),
    ({"every": "5m", "message": "m"}, "Main jobs require --system-event"),
    ({"every": "often", "system_event": "x"}, "Invalid --every"),
])
def test_add_refuses_contradictions(changes, message):
    with pytest.raises(click.UsageError, match=message):
        add_params({**ADD_DEFAULTS, **changes})


def test_edit_sends_only_what_changed():
    assert edit_patch({**EDIT_DEFAULTS, "disable": True, "every": "1h"}) == {
        "enabled": False, "schedule": {"kind": "every", "everyMs": 3_600_000}}
    assert edit_patch({**EDIT_DEFAULTS, "clear_agent": True, "thinking": "low"}) == {
        "agentId": None, "payload": {"kind": "agentTurn", "thinking": "low"}}


async def run_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    """``moltbot cron *args`` in-process (click's runner): the command's flags, its call and its output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    return await run_cli_inprocess(env, "cron", *args, "--url", url, "--token", TOKEN)


async def test_add_list_run_and_runs_against_a_gateway(gateway):
    added = await run_cli(gateway.url, "add", "--name", "hello", "--every", "1h", "--system-event", "hi", "--json")
    job = json.loads(added.stdout)
    ran = await run_cli(gateway.url, "run", job["id"], "--json")
    runs = await run_cli(gateway.url, "runs", "--id", job["id"], "--json")
    assert added.returncode == 0 and job["schedule"] == {"kind": "every", "everyMs": 3_600_000}
    assert json.loads(ran.stdout).items() >= {"ok": True, "ran": True, "enqueued": True}.items()
    assert [entry["status"] for entry in json.loads(runs.stdout)["entries"]] == ["ok"]

"""`moltbot migrate` from a January Clawdbot folder (its JSON and JSONL files: credentials, sessions
and transcripts, cron jobs) into a state dir of ours elsewhere."""

from __future__ import annotations

import json
import stat

import pytest
import trio
from click.testing import CliRunner

from moltbot.cli.migrate import migrate_command
from moltbot.client import open_gateway_client
from moltbot.config.load import load_config
from moltbot.gateway.app import open_gateway
from moltbot.migrate import MigrateError, apply_plan, build_plan

TOKEN = "clawd-migrated-token-0123456789"
SESSION_ID = "6f0c2f47-3a57-4d1c-9a34-5b8f3f3a1e01"
JOB = {"id": "a1b2c3d4-0000-4000-8000-000000000001", "name": "standup", "enabled": True, "createdAtMs": 1,
       "updatedAtMs": 2, "schedule": {"kind": "cron", "expr": "0 9 * * 1-5"}, "sessionTarget": "isolated",
       "wakeMode": "next-heartbeat", "payload": {"kind": "agentTurn", "message": "standup notes"}, "state": {}}
DEVICE = {"deviceId": "d" * 64, "publicKey": "Q0XGRQy75uuZVxrmbQaHT9_ufGn2W8eQt11sm1-_4Ec", "role": "operator",
          "roles": ["operator"], "scopes": ["operator.read"], "createdAtMs": 1, "approvedAtMs": 1,
          "tokens": {"operator": {"token": "0" * 32, "role": "operator", "scopes": ["operator.read"], "createdAtMs": 1}}}


def make_clawdbot(root):
    """A January state folder: config, one agent's sessions, cron, pairings, credentials."""
    sessions = root / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (root / "clawdbot.json").write_text(json.dumps({
        "gateway": {"mode": "local", "auth": {"token": TOKEN}}, "canvasHost": {"enabled": False},
        "legacyThing": {"x": 1}}))
    (sessions / "sessions.json").write_text(json.dumps(
        {"agent:main:main": {"sessionId": SESSION_ID, "updatedAt": 1796172586103}}))
    lines = [{"type": "session", "version": 3, "id": SESSION_ID, "timestamp": "2026-01-20T10:00:00.000Z", "cwd": "/"},
             {"type": "message", "id": "m1", "timestamp": "2026-01-20T10:00:01.000Z",
              "message": {"role": "user", "content": [{"type": "text", "text": "from january"}], "timestamp": 1}}]
    (sessions / f"{SESSION_ID}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "cron" / "runs").mkdir(parents=True)
    (root / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [JOB]}))
    (root / "cron" / "runs" / f"{JOB['id']}.jsonl").write_text(
        json.dumps({"ts": 5, "jobId": JOB["id"], "action": "finished", "status": "ok"}) + "\n")
    (root / "devices").mkdir()
    (root / "devices" / "paired.json").write_text(json.dumps({DEVICE["deviceId"]: DEVICE}))
    (root / "devices" / "pending.json").write_text("{}")
    (root / "credentials").mkdir()
    (root / "credentials" / "telegram-default-offset.json").write_text('{"offset": 7}')
    return root


@pytest.fixture
def setup(tmp_path):
    home = tmp_path / "home"
    make_clawdbot(home / ".clawdbot")
    env = {"HOME": str(home), "MOLTBOT_STATE_DIR": str(tmp_path / "ours")}
    return home, tmp_path / "ours", env


async def test_import_gives_a_state_dir_our_gateway_serves(setup):
    _, ours, env = setup
    plan = build_plan(env)
    assert plan.kind == "clawdbot"
    apply_plan(plan, force=False)
    config = load_config(env=dict(env))
    assert config.path == ours / "moltbot.json" and "legacyThing" not in config.raw
    assert "config: left out legacyThing: unknown here" in plan.notes
    assert json.loads((ours / "credentials" / "telegram-default-offset.json").read_text()) == {"offset": 7}
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                history = await client.call("chat.history", {"sessionKey": "agent:main:main"})
                jobs = await client.call("cron.list", {"includeDisabled": True})
                runs = await client.call("cron.runs", {"id": JOB["id"]})
                devices = await client.call("device.pair.list", {})
    assert [message["role"] for message in history["messages"]] == ["user"]
    assert [job["name"] for job in jobs["jobs"]] == ["standup"]
    assert [entry["status"] for entry in runs["entries"]] == ["ok"]
    assert [device["deviceId"] for device in devices["paired"]] == [DEVICE["deviceId"]]


def test_files_are_copied_private(setup):
    _, ours, env = setup
    apply_plan(build_plan(env), force=False)
    for path in [ours / "agents" / "main" / "sessions" / f"{SESSION_ID}.jsonl", ours / "devices" / "paired.json",
                 ours / "credentials" / "telegram-default-offset.json", ours / "cron" / "runs" / f"{JOB['id']}.jsonl"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((ours / "credentials").stat().st_mode) == 0o700


def test_dry_run_lists_and_writes_nothing(setup):
    home, ours, env = setup
    result = CliRunner().invoke(migrate_command, ["--dry-run", "--from", "clawdbot"],
                                env={**env, "CLAWDBOT_STATE_DIR": None})
    assert result.exit_code == 0, result.output
    assert f"Would import Clawdbot state from {home / '.clawdbot'}" in result.output
    assert f"write {ours / 'cron' / 'jobs.json'}: 1 cron job(s) (0 we would keep but not schedule)" in result.output
    assert f"copy 1 credentials file(s) into {ours / 'credentials'}" in result.output
    assert "devices/pending.json: pending requests are not imported" in result.output
    assert not ours.exists()


def test_existing_pairings_are_merged_only_with_force(setup):
    _, ours, env = setup
    (ours / "devices").mkdir(parents=True)
    mine = {"deviceId": "e" * 64, "publicKey": "k", "createdAtMs": 1, "approvedAtMs": 1}
    (ours / "devices" / "paired.json").write_text(json.dumps({mine["deviceId"]: mine}))
    apply_plan(build_plan(env), force=False)
    assert list(json.loads((ours / "devices" / "paired.json").read_text())) == [mine["deviceId"]]
    apply_plan(build_plan(env), force=True)
    assert list(json.loads((ours / "devices" / "paired.json").read_text())) == [mine["deviceId"], DEVICE["deviceId"]]


def test_corrupt_store_is_a_clear_error_naming_the_file(setup):
    home, ours, env = setup
    (home / ".clawdbot" / "agents" / "main" / "sessions" / "sessions.json").write_text('{"agent:main:main": ')
    with pytest.raises(MigrateError) as caught:
        build_plan(env)
    assert str(caught.value) == ("agents/main/sessions/sessions.json (session store) is not valid JSON at line 1: "
                                 "Expecting value")
    assert not ours.exists()


def test_the_default_state_dir_is_not_imported_into_itself(tmp_path):
    make_clawdbot(tmp_path / ".clawdbot")
    with pytest.raises(MigrateError, match="is this gateway's state dir already"):
        build_plan({"HOME": str(tmp_path)})


def test_nothing_to_import_is_a_clear_error(tmp_path):
    with pytest.raises(MigrateError, match=r"no OpenClaw \(~/.openclaw\) or Clawdbot \(~/.clawdbot\) folder"):
        build_plan({"HOME": str(tmp_path), "MOLTBOT_STATE_DIR": str(tmp_path / "ours")})


def test_an_existing_store_that_cannot_be_merged_stops_before_any_write(setup):
    _, ours, env = setup
    (ours / "devices").mkdir(parents=True)
    (ours / "devices" / "paired.json").write_text("[not an object")
    with pytest.raises(MigrateError, match=r"devices/paired.json: an existing store is not a JSON object"):
        apply_plan(build_plan(env), force=True)
    assert not (ours / "moltbot.json").exists() and not (ours / "cron").exists()

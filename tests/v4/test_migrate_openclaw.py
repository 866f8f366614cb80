"""`moltbot migrate` from today's OpenClaw: a ~/.openclaw folder whose SQLite databases the test builds from the
subset of the schema observed on OpenClaw 2026.9.6 (shared schema 18, per-agent schema 23)."""

from __future__ import annotations

import json
import sqlite3
import stat

import pytest
import trio
from click.testing import CliRunner

from moltbot.cli.migrate import migrate_command
from moltbot.client import open_gateway_client
from moltbot.config.load import load_config
from moltbot.gateway.app import open_gateway
from moltbot.migrate import MigrateError, apply_plan, build_plan

SESSION_ID = "0ba1fe65-6f68-47da-a537-25b051eee473"
DEVICE_ID = "e87f50f93a9f001a4fff0735bcc7fafb2efacbf36791f6d6d47d031fab3375bc"
NODE_TOKEN = "g6onJrCYrPlxBhcgURop3VsKEbOUnqFCiuj2iFtHA9U"
TOKEN = "oc-migrated-token-0123456789"

SHARED_SCHEMA = """
CREATE TABLE schema_meta (meta_key TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL, schema_version INTEGER NOT NULL,
  agent_id TEXT, app_version TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, declaration_key TEXT, name TEXT NOT NULL,
  description TEXT, enabled INTEGER NOT NULL, agent_id TEXT, payload_kind TEXT NOT NULL, job_json TEXT NOT NULL,
  state_json TEXT NOT NULL DEFAULT '{}', sort_order INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
  PRIMARY KEY (store_key, job_id)) STRICT;
CREATE TABLE device_pairing_paired (device_id TEXT NOT NULL PRIMARY KEY, public_key TEXT NOT NULL, display_name TEXT,
  platform TEXT, device_family TEXT, client_id TEXT, client_mode TEXT, role TEXT, roles_json TEXT, scopes_json TEXT,
  approved_scopes_json TEXT, remote_ip TEXT, tokens_json TEXT, approved_via TEXT, node_surface_json TEXT,
  created_at_ms INTEGER NOT NULL, approved_at_ms INTEGER NOT NULL, last_seen_at_ms INTEGER) STRICT;
CREATE TABLE device_pairing_pending (request_id TEXT NOT NULL PRIMARY KEY, device_id TEXT NOT NULL,
  public_key TEXT NOT NULL, ts INTEGER NOT NULL) STRICT;
"""
AGENT_SCHEMA = """
CREATE TABLE session_nodes (session_key TEXT NOT NULL PRIMARY KEY, current_session_id TEXT NOT NULL,
  entry_json TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE session_windows (session_id TEXT NOT NULL PRIMARY KEY, session_key TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE transcript_events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT,
  created_at INTEGER NOT NULL, event_zstd BLOB, event_utf8_bytes INTEGER, PRIMARY KEY (session_id, seq)) STRICT;
"""
CONFIG = """{
  // JSON5, as OpenClaw writes it
  "gateway": { "mode": "local", "bind": "loopback", "auth": { "mode": "token", "token": "TOKEN" } },
  "telemetry": { "enabled": false },
  "models": { "catalogRefresh": { "enabled": false } },
}
""".replace("TOKEN", TOKEN)


def _job(job_id: str, name: str, **fields) -> dict:
    return {"id": job_id, "name": name, "enabled": True, "createdAtMs": 1796172487605, **fields}


JOBS = [
    ("05160588-b413-40d4-8e2b-d37f313c4261", "heartbeat:main", _job(
        "05160588-b413-40d4-8e2b-d37f313c4261", "heartbeat-main", declarationKey="heartbeat:main", agentId="main",
        schedule={"kind": "every", "everyMs": 1800000, "anchorMs": 542211}, sessionTarget="main",
        wakeMode="next-heartbeat", payload={"kind": "heartbeat"}, state={})),
    ("2052ee87-c106-49f9-8897-edb426fd556b", None, _job(
        "2052ee87-c106-49f9-8897-edb426fd556b", "morning", description="daily brief",
        schedule={"kind": "cron", "expr": "0 7 * * *"}, sessionTarget="isolated", wakeMode="now",
        payload={"kind": "agentTurn", "message": "Good morning summary", "toolsAllow": ["*"]},
        delivery={"mode": "announce", "channel": "last"}, scheduledToolPolicy={"version": 1, "mode": "trusted"},
        state={})),
    ("c9851534-b5b6-491b-b650-e10edd1a643d", None, _job(
        "c9851534-b5b6-491b-b650-e10edd1a643d", "ping", schedule={"kind": "every", "everyMs": 1800000},
        sessionTarget="main", wakeMode="now", payload={"kind": "systemEvent", "text": "ping check"}, state={})),
    ("901bdfe5-fed8-4d0f-a322-e9e36bbbf297", None, _job(
        "901bdfe5-fed8-4d0f-a322-e9e36bbbf297", "once", enabled=False, deleteAfterRun=True,
        schedule={"kind": "at", "at": "2027-01-01T00:00:00.000Z"}, sessionTarget="isolated", wakeMode="now",
        payload={"kind": "agentTurn", "message": "new year"}, state={})),
]
EVENTS = [
    {"type": "session", "version": 4, "id": SESSION_ID, "timestamp": "2026-12-02T00:48:38.097Z", "cwd": "/x"},
    {"type": "message", "id": "18a92f15", "parentId": None, "timestamp": "2026-12-02T00:49:44.149Z",
     "message": {"role": "user", "content": "hello from OpenClaw", "timestamp": 1796172580345}},
    {"type": "message", "id": "3c66b9c1", "parentId": "18a92f15", "timestamp": "2026-12-02T00:49:46.202Z",
     "message": {"role": "assistant", "content": [{"type": "text", "text": "hi back"}], "timestamp": 1796172586202}},
]


def make_openclaw(home, *, config: str | None = CONFIG):
    """A ~/.openclaw folder with a config, the shared database, one agent database and a workspace."""
    root = home / ".openclaw"
    (root / "state").mkdir(parents=True)
    if config is not None:
        (root / "openclaw.json").write_text(config)
    with sqlite3.connect(root / "state" / "openclaw.sqlite") as db:
        db.executescript(SHARED_SCHEMA)
        db.execute("INSERT INTO schema_meta VALUES ('primary', 'global', 18, NULL, '2026.9.6', 1, 1)")
        for order, (job_id, declaration, job) in enumerate(JOBS):
            db.execute("INSERT INTO cron_jobs VALUES ('k', ?, ?, ?, NULL, ?, NULL, ?, ?, ?, ?, 1796172491274)",
                       (job_id, declaration, job["name"], int(job["enabled"]), job["payload"]["kind"], json.dumps(job),
                        json.dumps({"nextRunAtMs": 1796194800000}), order))
        tokens = {"node": {"token": NODE_TOKEN, "role": "node", "scopes": [], "createdAtMs": 1796172539821}}
        db.execute("INSERT INTO device_pairing_paired VALUES (?, 'Q0XGRQy75uuZVxrmbQaHT9_ufGn2W8eQt11sm1-_4Ec', "
                   "'test-node', 'linux', 'Linux', 'node-host', 'node', 'node', '[\"node\"]', '[]', '[]', NULL, ?, "
                   "'silent', '{}', 1796172539821, 1796172539821, NULL)", (DEVICE_ID, json.dumps(tokens)))
        db.execute("INSERT INTO device_pairing_pending VALUES ('r1', 'd2', 'pk', 1)")
    agent = root / "agents" / "main" / "agent"
    agent.mkdir(parents=True)
    with sqlite3.connect(agent / "openclaw-agent.sqlite") as db:
        db.executescript(AGENT_SCHEMA)
        entry = {"sessionId": SESSION_ID, "updatedAt": 1796172586103, "chatType": "direct",
                 "skillsSnapshot": {"prompt": "paths into the OpenClaw install"}, "activeWriterRunId": "k1"}
        db.execute("INSERT INTO session_nodes VALUES ('agent:main:main', ?, ?, 1)", (SESSION_ID, json.dumps(entry)))
        db.execute("INSERT INTO session_windows VALUES (?, 'agent:main:main', 1, 1)", (SESSION_ID,))
        for seq, event in enumerate(EVENTS):
            db.execute("INSERT INTO transcript_events VALUES (?, ?, ?, 1, NULL, NULL)",
                       (SESSION_ID, seq, json.dumps(event)))
    (root / "workspace").mkdir()
    (root / "workspace" / "SOUL.md").write_text("# soul\n")
    return root


@pytest.fixture
def setup(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    make_openclaw(home)
    env = {"HOME": str(home), "MOLTBOT_STATE_DIR": str(tmp_path / "ours")}
    return home, tmp_path / "ours", env


def test_dry_run_lists_what_it_would_write_and_writes_nothing(setup):
    home, ours, env = setup
    result = CliRunner().invoke(migrate_command, ["--dry-run"], env={**env, "CLAWDBOT_STATE_DIR": None})
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"write {ours / 'moltbot.json'}: config from openclaw.json (2 key(s) left out)" in out
    assert f"write {ours / 'cron' / 'jobs.json'}: 3 cron job(s)" in out
    assert f"write {ours / 'devices' / 'paired.json'}: 1 paired device(s)" in out
    assert f"write {ours / 'agents' / 'main' / 'sessions' / 'sessions.json'}: 1 session(s) of agent main" in out
    assert f"copy 1 workspace file(s) into {home / 'clawd'}" in out
    assert "config: left out telemetry: unknown here" in out and "config: left out models.catalogRefresh" in out
    assert "declared by OpenClaw itself (heartbeat:main)" in out
    assert "1 pending pairing requests (they expire after 5 minutes) (device_pairing_pending): not imported" in out
    assert not ours.exists() and not (home / "clawd").exists()


async def test_import_gives_a_state_dir_our_gateway_serves(setup):
    home, ours, env = setup
    apply_plan(build_plan(env), force=False)
    config = load_config(env=dict(env))
    assert config.path == ours / "moltbot.json" and config.warnings == ()
    assert config.agents.defaults.workspace == str(home / "clawd")
    assert (home / "clawd" / "SOUL.md").read_text() == "# soul\n"
    # The scheduler stays off: "morning" is due at 07:00 UTC on the fixture's day (its nextRunAtMs below), so with
    # cron running the outcome of this test would depend on the wall clock (it ran the job after 07:00).
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={"CLAWDBOT_SKIP_CRON": "1"}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                sessions = await client.call("sessions.list", {})
                history = await client.call("chat.history", {"sessionKey": "agent:main:main"})
                jobs = await client.call("cron.list", {"includeDisabled": True})
                devices = await client.call("device.pair.list", {})
    assert [session["key"] for session in sessions["sessions"]] == ["agent:main:main"]
    assert [message["role"] for message in history["messages"]] == ["user", "assistant"]
    by_name = {job["name"]: job for job in jobs["jobs"]}
    assert sorted(by_name) == ["morning", "once", "ping"]
    assert by_name["once"]["schedule"] == {"kind": "at", "atMs": 1798761600000}
    assert by_name["morning"]["payload"] == {"kind": "agentTurn", "message": "Good morning summary",
                                             "deliver": True, "channel": "last"}
    assert by_name["morning"]["state"]["nextRunAtMs"] == 1796194800000
    assert [device["deviceId"] for device in devices["paired"]] == [DEVICE_ID]


def test_session_entry_drops_what_belongs_to_the_openclaw_process(setup):
    _, ours, env = setup
    apply_plan(build_plan(env), force=False)
    store = json.loads((ours / "agents" / "main" / "sessions" / "sessions.json").read_text())
    assert store == {"agent:main:main": {"sessionId": SESSION_ID, "updatedAt": 1796172586103, "chatType": "direct"}}
    lines = (ours / "agents" / "main" / "sessions" / f"{SESSION_ID}.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == EVENTS


def test_files_are_private_and_directories_0700(setup):
    home, ours, env = setup
    apply_plan(build_plan(env), force=False)
    for path in [ours / "moltbot.json", ours / "cron" / "jobs.json", ours / "devices" / "paired.json",
                 home / "clawd" / "SOUL.md"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [ours, ours / "cron", ours / "agents" / "main" / "sessions", home / "clawd"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_existing_state_is_left_alone_without_force_and_merged_with_it(setup):
    _, ours, env = setup
    (ours / "cron").mkdir(parents=True)
    mine = {"id": "my-own-job", "name": "mine", "enabled": True, "createdAtMs": 1, "updatedAtMs": 1,
            "schedule": {"kind": "every", "everyMs": 60000}, "sessionTarget": "main", "wakeMode": "now",
            "payload": {"kind": "systemEvent", "text": "x"}, "state": {}}
    (ours / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [mine]}))
    outcomes = apply_plan(build_plan(env), force=False)
    assert [o.status for o in outcomes if o.action.kind == "cron"] == ["skipped (exists)"]
    assert json.loads((ours / "cron" / "jobs.json").read_text())["jobs"] == [mine]
    outcomes = apply_plan(build_plan(env), force=True)
    assert [o.status for o in outcomes if o.action.kind == "cron"] == ["merged"]
    names = [job["name"] for job in json.loads((ours / "cron" / "jobs.json").read_text())["jobs"]]
    assert names == ["mine", "morning", "ping", "once"]
    assert (ours / "moltbot.json.bak").exists()  # the replaced config is kept


def test_corrupt_database_is_a_clear_error(setup):
    home, _, env = setup
    (home / ".openclaw" / "state" / "openclaw.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(MigrateError) as caught:
        build_plan(env)
    assert str(caught.value) == "state/openclaw.sqlite is not a readable SQLite database (SQLITE_NOTADB)"


def test_cli_reports_a_corrupt_config_without_a_traceback(setup):
    home, ours, env = setup
    (home / ".openclaw" / "openclaw.json").write_text("{gateway: ")
    result = CliRunner().invoke(migrate_command, [], env={**env, "CLAWDBOT_STATE_DIR": None})
    assert result.exit_code == 1 and "Error: openclaw.json is not valid JSON5" in result.output
    assert "Traceback" not in result.output and not ours.exists()


def test_compressed_events_without_zstandard_leave_the_transcript_out(setup, monkeypatch):
    home, ours, env = setup
    database = home / ".openclaw" / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO transcript_events VALUES (?, 9, NULL, 1, x'28b52ffd', 4)", (SESSION_ID,))
    monkeypatch.setattr("moltbot.migrate.openclaw._zstd", lambda: None)
    plan = build_plan(env)
    assert not any(action.kind == "transcript" for action in plan.actions)
    assert any("1 event(s) are zstd-compressed" in note for note in plan.notes)


def test_our_own_state_dir_is_not_a_source(tmp_path):
    make_openclaw(tmp_path)
    with pytest.raises(MigrateError, match="is this gateway's state dir already"):
        build_plan({"HOME": str(tmp_path), "OPENCLAW_STATE_DIR": str(tmp_path / ".openclaw")})


def test_a_secret_ref_is_left_out_and_named_without_its_value(setup):
    home, _, env = setup
    (home / ".openclaw" / "openclaw.json").write_text(json.dumps(
        {"gateway": {"mode": "local", "auth": {"token": {"source": "env", "id": "OC_TOKEN_SECRET_NAME"}}}}))
    plan = build_plan(env)
    assert "config: left out gateway.auth.token: must be a string" in plan.notes
    assert not any("OC_TOKEN_SECRET_NAME" in note for note in plan.notes)


def test_a_folder_without_config_still_imports_its_state(tmp_path):
    make_openclaw(tmp_path, config=None)
    plan = build_plan({"HOME": str(tmp_path), "MOLTBOT_STATE_DIR": str(tmp_path / "ours")})
    assert sorted({action.kind for action in plan.actions}) == ["cron", "devices", "sessions", "transcript", "workspace"]
    assert f"config: no openclaw.json, nothing imported; set agents.defaults.workspace to {tmp_path / 'clawd'}" in plan.notes

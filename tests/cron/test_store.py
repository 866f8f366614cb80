"""The file store: jobs.json in the original's format, jobs it cannot read kept, run logs pruned."""

import json
import os

import pytest

from moltbot.cron.jobs import create_job
from moltbot.cron.store import CronStoreError, FileCronStore, parse_jobs
from moltbot.protocol._payloads.cron import CronRunLogEntry
from tests.cron.conftest import add_params

NOW = 1_700_000_000_000


def job(job_id="j1", **fields):
    params = add_params(name=f"job {job_id}", schedule={"everyMs": 60_000}, payload={"text": "hi"}, **fields)
    return create_job(params, job_id=job_id, now_ms=NOW)


def append_text(path, text):
    with open(path, "a") as handle:
        handle.write(text)


def entry(job_id, ts, status="ok"):
    return CronRunLogEntry(ts=ts, job_id=job_id, action="finished", status=status, run_at_ms=ts)


async def test_jobs_round_trip_through_an_atomic_private_file(tmp_path):
    store = FileCronStore(tmp_path / "cron" / "jobs.json")
    await store.save([job("a"), job("b")], [])
    assert oct(os.stat(store.file).st_mode & 0o777) == "0o600"
    assert json.loads(store.file.read_text())["version"] == 1
    loaded = await store.load()
    assert [j.id for j in loaded.jobs] == ["a", "b"] and loaded.jobs[0] == job("a")
    assert not [p for p in store.file.parent.iterdir() if p.name.endswith(".tmp")]


async def test_missing_file_is_an_empty_store(tmp_path):
    assert (await FileCronStore(tmp_path / "nope.json").load()).jobs == []


def test_the_originals_format_loads_json5_and_legacy_fields():
    text = """{version: 1, jobs: [
      {id: "old", name: "", enabled: true, createdAtMs: 1, updatedAtMs: 1,
       schedule: {at: "2026-01-30T09:00:00Z"}, sessionTarget: "isolated", wakeMode: "now",
       payload: {kind: "agentTurn", message: "Report\\nmore", provider: "Telegram"}, state: {}},
    ]}"""
    loaded = parse_jobs(text)
    (old,) = loaded.jobs
    assert old.name == "Report" and old.schedule.at_ms == 1769763600000 and old.payload.channel == "telegram"


def test_jobs_it_cannot_read_are_kept_verbatim_and_reported():
    unknown = {"id": "future", "name": "x", "delivery": {"mode": "announce"}}
    loaded = parse_jobs(json.dumps({"version": 1, "jobs": [unknown, "garbage"]}))
    assert loaded.jobs == [] and loaded.kept == [unknown, "garbage"]
    assert "jobs[0] (id future) kept but not scheduled" in loaded.problems[0]


async def test_kept_jobs_survive_a_save(tmp_path):
    store = FileCronStore(tmp_path / "jobs.json")
    unknown = {"id": "future", "whatever": [1, 2]}
    await store.save([job("a")], [unknown])
    assert json.loads(store.file.read_text())["jobs"][1] == unknown


@pytest.mark.parametrize("text", ["{jobs: [", '{"version": 1, "jobs": {}}', "[]"])
def test_a_file_that_is_not_a_store_is_an_error(tmp_path, text):
    with pytest.raises(CronStoreError):
        parse_jobs(text)


async def test_run_log_reads_the_newest_entries_oldest_first(tmp_path):
    store = FileCronStore(tmp_path / "jobs.json")
    for ts in range(1, 8):
        await store.append_run(entry("j1", ts))
    await store.append_run(entry("j2", 100))
    assert [e.ts for e in await store.read_runs("j1", 3)] == [5, 6, 7]
    assert [e.ts for e in await store.read_runs("j2", 200)] == [100]
    assert (tmp_path / "runs" / "j1.jsonl").read_text().count("\n") == 7


async def test_run_log_tolerates_torn_and_foreign_lines(tmp_path):
    store = FileCronStore(tmp_path / "jobs.json")
    await store.append_run(entry("j1", 1))
    append_text(store.log_path("j1"),
                '{"ts": 2, "jobId": "j1", "action": "finished", "status": "ok", "model": "newer-field"}\n'
                '{"ts": 3, "jobId": "j1", "action": "started"}\nnot json\n{"ts": 4, "jobId": "j1", "acti')
    assert [e.ts for e in await store.read_runs("j1", 10)] == [1, 2]


async def test_run_log_is_pruned_to_its_last_lines(tmp_path):
    store = FileCronStore(tmp_path / "jobs.json", max_log_bytes=2_000, keep_lines=5)
    for ts in range(1, 60):
        await store.append_run(entry("j1", ts))
    kept = [e.ts for e in await store.read_runs("j1", 5000)]
    assert kept[-1] == 59 and len(kept) < 30 and store.log_path("j1").stat().st_size <= 2_000 + 100


async def test_unsafe_job_ids_never_name_a_file(tmp_path):
    store = FileCronStore(tmp_path / "cron" / "jobs.json")
    await store.append_run(entry("../escape", 1))
    assert await store.read_runs("../../etc/passwd", 10) == []
    assert not (tmp_path / "escape.jsonl").exists() and not (tmp_path / "cron" / "runs").exists()

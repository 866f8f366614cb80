"""``cron.*`` over a real gateway on port 0: normalisation, validation errors, events, runs, the run log."""

import time
from datetime import UTC, datetime

import pytest
import trio

from moltbot.agents.providers.echo import PREFIX
from moltbot.protocol import RemoteProtocolError


def systemevent_job(**extra):
    return {"name": "standup", "schedule": {"kind": "every", "everyMs": 3_600_000},
            "payload": {"kind": "systemEvent", "text": "Standup in 5"}, **extra}


async def cron_events(events, count):
    """The next ``count`` cron event payloads."""
    found = []
    with trio.fail_after(10):
        async for frame in events:
            if frame.event == "cron":
                found.append(frame.payload)
                if len(found) == count:
                    return found


async def test_add_normalises_the_originals_loose_input(client):
    at = "2031-05-06T07:08:09Z"
    async with client() as c:
        job = await c.call("cron.add", {"job": {"name": " Remind ", "schedule": {"at": at},
                                                "payload": {"kind": "AGENTTURN", "message": "ping", "provider": "Telegram"}}})
    at_ms = int(datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp() * 1000)
    assert job["name"] == "Remind" and job["schedule"] == {"kind": "at", "atMs": at_ms}
    assert (job["sessionTarget"], job["wakeMode"]) == ("isolated", "next-heartbeat")
    assert job["payload"] == {"kind": "agentTurn", "message": "ping", "channel": "telegram"}
    assert job["state"]["nextRunAtMs"] == at_ms and job["enabled"] is True


@pytest.mark.parametrize(("params", "code", "message"), [
    ({"schedule": {"everyMs": 10}, "payload": {"text": "x"}}, "INVALID_REQUEST",
     "invalid cron.add params: must have required property 'name'"),
    ({"name": "x", "schedule": {"kind": "every", "everyMs": 0}, "payload": {"text": "x"}}, "INVALID_REQUEST",
     "invalid cron.add params: at /schedule/everyMs: must be >= 1"),
    ({"name": "x", "schedule": {"kind": "hourly"}, "payload": {"text": "x"}}, "INVALID_REQUEST",
     'invalid cron.add params: at /schedule/kind: must be one of "at", "every", "cron"'),
    ({"name": "x", "schedule": {"everyMs": 10}, "sessionTarget": "main", "payload": {"message": "m"}},
     "INVALID_REQUEST", 'main cron jobs require payload.kind="systemEvent"'),
    ({"name": "x", "schedule": {"expr": "0 25 * * *"}, "payload": {"text": "x"}}, "INVALID_REQUEST",
     "invalid cron expression '0 25 * * *'"),
    ({"name": "x", "schedule": {"expr": "0 9 * * *", "tz": "Berlin"}, "payload": {"text": "x"}}, "INVALID_REQUEST",
     "unknown time zone 'Berlin'"),
])
async def test_add_refuses_invalid_jobs_naming_the_problem(client, params, code, message):
    async with client() as c:
        with pytest.raises(RemoteProtocolError) as caught:
            await c.call("cron.add", params)
    assert caught.value.code == code and caught.value.message.startswith(message)


async def test_list_status_update_remove_and_their_events(client, gateway, tmp_path):
    async with client() as c:
        events = c.subscribe()
        soon = await c.call("cron.add", systemevent_job(name="soon", schedule={"everyMs": 60_000}))
        later = await c.call("cron.add", systemevent_job(name="later"))
        off = await c.call("cron.add", systemevent_job(name="off", enabled=False))
        listed = await c.call("cron.list")
        everything = await c.call("cron.list", {"includeDisabled": True})
        status = await c.call("cron.status")
        updated = await c.call("cron.update", {"jobId": later["id"], "patch": {
            "name": "renamed", "agentId": "Main", "payload": {"kind": "systemEvent", "text": "changed"}}})
        cleared = await c.call("cron.update", {"id": later["id"], "patch": {"agentId": None}})
        removed = await c.call("cron.remove", {"id": off["id"]})
        again = await c.call("cron.remove", {"id": off["id"]})
        seen = await cron_events(events, 6)
    assert [job["name"] for job in listed["jobs"]] == ["soon", "later"]  # by next run, enabled only
    assert len(everything["jobs"]) == 3
    assert status == {"enabled": True, "storePath": str(tmp_path / "cron" / "jobs.json"), "jobs": 3,
                      "nextWakeAtMs": soon["state"]["nextRunAtMs"], "storage": "json", "triggersEnabled": False}
    assert (updated["name"], updated["agentId"], updated["payload"]["text"]) == ("renamed", "main", "changed")
    assert "agentId" not in cleared
    assert removed == {"ok": True, "removed": True} and again == {"ok": True, "removed": False}
    assert [(e["action"], e["jobId"]) for e in seen] == [
        ("added", soon["id"]), ("added", later["id"]), ("added", off["id"]), ("updated", later["id"]),
        ("updated", later["id"]), ("removed", off["id"])]
    assert (tmp_path / "cron" / "jobs.json").exists()


async def test_unknown_and_missing_ids(client):
    async with client() as c:
        with pytest.raises(RemoteProtocolError) as unknown:
            await c.call("cron.run", {"id": "nope", "mode": "force"})
        with pytest.raises(RemoteProtocolError) as missing:
            await c.call("cron.update", {"patch": {"name": "x"}})
        runs = await c.call("cron.runs", {"id": "nope"})
    assert (unknown.value.code, unknown.value.message) == ("UNAVAILABLE", "unknown cron job id: nope")
    assert (missing.value.code, missing.value.message) == ("INVALID_REQUEST", "invalid cron.update params: missing id")
    assert runs["entries"] == [] and runs["total"] == 0


async def test_forced_main_job_queues_a_system_event_and_logs_the_run(client):
    async with client() as c:
        events = c.subscribe()
        job = await c.call("cron.add", systemevent_job())
        assert await c.call("cron.run", {"id": job["id"]}) == {"ok": True, "ran": False, "enqueued": False,
                                                                "reason": "not-due"}
        forced = await c.call("cron.run", {"id": job["id"], "mode": "force"})
        assert forced.items() >= {"ok": True, "ran": True, "enqueued": True}.items()
        seen = await cron_events(events, 3)
        runs = await c.call("cron.runs", {"id": job["id"], "limit": 5})
        status = await c.call("status")
    assert [e["action"] for e in seen] == ["added", "started", "finished"]
    assert seen[2]["status"] == "ok" and seen[2]["nextRunAtMs"] == job["state"]["nextRunAtMs"]
    (entry,) = runs["entries"]
    assert (entry["jobId"], entry["status"], entry["summary"]) == (job["id"], "ok", "Standup in 5")
    assert entry["runId"] == forced["runId"]
    assert "Standup in 5" in status["queuedSystemEvents"]


async def test_isolated_job_runs_an_agent_turn_in_its_own_session(client):
    async with client() as c:
        job = await c.call("cron.add", {"name": "digest", "schedule": {"everyMs": 3_600_000},
                                        "payload": {"message": "summarise", "to": "+15550001",
                                                    "bestEffortDeliver": True}})
        await c.call("cron.run", {"id": job["id"], "mode": "force"})
        (entry,) = (await c.call("cron.runs", {"id": job["id"]}))["entries"]
        sessions = await c.call("sessions.list")
        status = await c.call("status")
    prompt = f"[cron:{job['id']} digest] summarise"
    assert entry["status"] == "ok" and entry["summary"] == PREFIX + prompt
    assert (entry["deliveryStatus"], entry["deliveryError"]) == (
        "not-delivered", 'channel "last": session agent:main:main has not talked on a channel yet '
        "(set payload.channel and payload.to)")
    assert f"agent:main:cron:{job['id']}" in [s["key"] for s in sessions["sessions"]]
    assert f"Cron: {PREFIX}{prompt}" in status["queuedSystemEvents"]


async def test_a_due_job_runs_on_schedule_by_itself(client):
    async with client() as c:
        events = c.subscribe()
        job = await c.call("cron.add", systemevent_job(schedule={"atMs": int(time.time() * 1000) + 300}))
        seen = await cron_events(events, 3)
        jobs = await c.call("cron.list", {"includeDisabled": True})
    assert [e["action"] for e in seen] == ["added", "started", "finished"]
    assert jobs["jobs"][0]["enabled"] is False and jobs["jobs"][0]["id"] == job["id"]  # a one-shot, done


async def test_read_scope_may_list_but_not_add(client):
    async with client(scopes=["operator.read"]) as c:
        assert (await c.call("cron.list"))["jobs"] == []
        with pytest.raises(RemoteProtocolError, match="missing scope: operator.admin"):
            await c.call("cron.add", systemevent_job())

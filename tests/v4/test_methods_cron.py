"""``cron.*`` as today's OpenClaw CLI calls them, over a real socket at protocol 4; OpenClaw's schema is the oracle.

The params are the ones the 2026.9.6 CLI sends; each is checked against the schema's params
definition too, so a test cannot pass on params OpenClaw would not send.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import jsonschema
import trio

from tests.conftest import TOKEN, open_raw

# The CLI's own kind: a local ``cli``/``cli`` keeps its scopes without a device at protocol 4.
CLI = {"id": "cli", "version": "2026.9.6", "platform": "linux", "mode": "cli"}
OPERATOR = {"client": CLI, "role": "operator", "scopes": ["operator.admin", "operator.read", "operator.write", "operator.pairing"]}
CLI_ADD = {"name": "hourly", "enabled": True, "schedule": {"kind": "every", "everyMs": 3_600_000},
           "sessionTarget": "isolated", "wakeMode": "now", "payload": {"kind": "agentTurn", "message": "hello"},
           "delivery": {"mode": "announce", "channel": "last"}}


def check(schema: dict, name: str, value: object) -> None:
    """``value`` validates against the schema's definition ``name`` (refs resolved in the whole document)."""
    jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": schema["definitions"]}).validate(value)


@asynccontextmanager
async def operator(gateway, protocol: int = 4):
    async with open_raw(gateway.url, handshake=True, minProtocol=protocol, maxProtocol=protocol,
                        auth={"token": TOKEN}, **OPERATOR) as ws:
        yield ws


async def call(ws, method: str, params: dict) -> dict:
    response = await ws.call(method, params, request_id=f"{method}-{id(params)}")
    assert response["ok"], response
    return response["payload"]


async def test_cron_add_in_the_clis_shape_answers_a_job_the_schema_accepts(gateway, openclaw_schema):
    check(openclaw_schema, "CronAddParams", CLI_ADD)
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            job = await call(ws, "cron.add", CLI_ADD)
    check(openclaw_schema, "CronAddResult", job)
    assert job["delivery"] == {"mode": "announce", "channel": "last"} and job["wakeMode"] == "now"


async def test_cron_list_takes_the_clis_paging_params_and_pages(gateway, openclaw_schema):
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            for name in ("a", "b", "c"):
                await call(ws, "cron.add", {**CLI_ADD, "name": name})
            first_params = {"includeDisabled": True, "limit": 2, "offset": 0}
            check(openclaw_schema, "CronListParams", first_params)
            first = await call(ws, "cron.list", first_params)
            rest = await call(ws, "cron.list", {"includeDisabled": True, "limit": 2, "offset": first["nextOffset"]})
    assert (first["total"], first["offset"], first["limit"], first["hasMore"], first["nextOffset"]) == (3, 0, 2, True, 2)
    assert (rest["offset"], rest["hasMore"], rest["nextOffset"], len(rest["jobs"])) == (2, False, None, 1)
    assert first["snapshotRevision"] == rest["snapshotRevision"]
    assert sorted(job["name"] for job in first["jobs"] + rest["jobs"]) == ["a", "b", "c"]
    for job in first["jobs"] + rest["jobs"]:
        check(openclaw_schema, "CronJob", job)


async def test_cron_list_filters_by_query_and_enabled(gateway, openclaw_schema):
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            await call(ws, "cron.add", {**CLI_ADD, "name": "daily report"})
            await call(ws, "cron.add", {**CLI_ADD, "name": "paused", "enabled": False})
            params = {"query": "REPORT", "enabled": "all", "sortBy": "name", "sortDir": "desc",
                      "scheduleKind": "every", "lastRunStatus": "unknown", "compact": False}
            check(openclaw_schema, "CronListParams", params)
            found = await call(ws, "cron.list", params)
            disabled = await call(ws, "cron.list", {"enabled": "disabled"})
    assert [job["name"] for job in found["jobs"]] == ["daily report"]
    assert [job["name"] for job in disabled["jobs"]] == ["paused"]


async def test_cron_run_force_then_runs_page_names_the_run(gateway, openclaw_schema):
    job_add = {**CLI_ADD, "sessionTarget": "main", "payload": {"kind": "systemEvent", "text": "tick"},
               "delivery": {"mode": "none"}}
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            job = await call(ws, "cron.add", job_add)
            run_params = {"id": job["id"], "mode": "force"}
            check(openclaw_schema, "CronRunParams", run_params)
            ran = await call(ws, "cron.run", run_params)
            runs_params = {"id": job["id"], "limit": 50}
            check(openclaw_schema, "CronRunsParams", runs_params)
            runs = await call(ws, "cron.runs", runs_params)
            by_run = await call(ws, "cron.runs", {"id": job["id"], "runId": ran["runId"], "limit": 1})
            none = await call(ws, "cron.runs", {"id": job["id"], "status": "error", "limit": 50})
            removed = await call(ws, "cron.remove", {"id": job["id"]})
    assert ran["ok"] is True and ran["enqueued"] is True and ran["runId"]
    assert {k: runs[k] for k in ("total", "offset", "limit", "hasMore", "nextOffset")} == {
        "total": 1, "offset": 0, "limit": 50, "hasMore": False, "nextOffset": None}
    (entry,) = runs["entries"]
    check(openclaw_schema, "CronRunLogEntry", entry)
    assert entry["runId"] == ran["runId"] and entry["status"] == "ok"
    assert entry["deliveryStatus"] == "not-requested"  # `openclaw cron run --wait` then says "succeeded"
    assert by_run["entries"] == [entry] and none["entries"] == [] and none["total"] == 0
    assert removed == {"ok": True, "removed": True}


async def test_unknown_job_is_cron_job_not_found_at_protocol_4(gateway, openclaw_schema):
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            responses = [await ws.call(method, params, request_id=method) for method, params in (
                ("cron.runs", {"id": "nope", "limit": 50}), ("cron.run", {"id": "nope", "mode": "force"}),
                ("cron.remove", {"id": "nope"}))]
    for response in responses:
        error = response["error"]
        assert error["code"] == "INVALID_REQUEST" and error["message"].startswith("Automation not found: nope.")
        check(openclaw_schema, "CronJobNotFoundErrorDetails", error["details"])


async def test_unknown_job_keeps_januarys_answers_at_protocol_7(gateway):
    with trio.fail_after(20):
        async with operator(gateway, protocol=7) as ws:
            runs = await call(ws, "cron.runs", {"id": "nope"})
            removed = await call(ws, "cron.remove", {"id": "nope"})
            ran = await ws.call("cron.run", {"id": "nope", "mode": "force"}, request_id="run")
    assert runs["entries"] == [] and removed == {"ok": True, "removed": False}
    assert (ran["error"]["code"], ran["error"]["message"]) == ("UNAVAILABLE", "unknown cron job id: nope")


async def test_cron_status_has_the_storage_fields(gateway):
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            status = await call(ws, "cron.status", {})
    assert status["storage"] == "json" and status["triggersEnabled"] is False and status["jobs"] == 0


async def test_cron_list_without_limit_returns_every_job_as_january_did(gateway):
    with trio.fail_after(60):
        async with operator(gateway, protocol=7) as ws:
            for index in range(205):
                await call(ws, "cron.add", {**CLI_ADD, "name": f"job {index}"})
            listed = await call(ws, "cron.list", {})
    assert len(listed["jobs"]) == 205 and listed["hasMore"] is False and listed["nextOffset"] is None

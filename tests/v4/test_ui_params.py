"""The params today's OpenClaw Control UI (2026.9.6) sends to ``sessions.list``, ``chat.history``/``chat.startup``
and ``cron.runs``, and ``plugins.list``, over real sockets at protocol 4.

Each params object is the one the UI sent in headless Chromium (docs/openclaw-compat.md, "Refused
requests"); where OpenClaw's 2026.9.1 schema defines the params (or the result) they are validated against it
too. ``activeOnly`` and ``hasBoard`` are newer than that schema (2026.9.6's gateway has them).
"""

from __future__ import annotations

import jsonschema
import pytest
import trio

from tests.v4.test_methods_cron import CLI_ADD, call, operator

KEY = "agent:main:main"
LIST_BASE = {"includeGlobal": True, "includeUnknown": True, "configuredAgentsOnly": True}
AGENTS_VIEW = {**LIST_BASE, "limit": 100, "includeDerivedTitles": True, "includeLastMessage": True, "archived": "all"}
DASHBOARDS_VIEW = {**LIST_BASE, "limit": 200, "hasBoard": True, "archived": "all", "agentId": "main"}
AUTOMATIONS_RUNS = {"agentId": "main", "scope": "all", "limit": 50, "offset": 0, "status": "all", "sortDir": "desc"}


def check(schema: dict, name: str, value: object) -> None:
    jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": schema["definitions"]}).validate(value)


async def _sessions(ws, count: int) -> list[str]:
    """``count`` sessions (``sessions.patch`` writes an entry), newest last."""
    keys = [f"agent:main:s{index}" for index in range(count)]
    for key in keys:
        await call(ws, "sessions.patch", {"key": key, "label": key.rsplit(":", 1)[1]})
    return keys


async def test_sessions_list_takes_the_agents_and_dashboards_views_params(gateway, openclaw_schema):
    check(openclaw_schema, "SessionsListParams", AGENTS_VIEW)
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            keys = await _sessions(ws, 3)
            agents = await call(ws, "sessions.list", AGENTS_VIEW)
            dashboards = await call(ws, "sessions.list", DASHBOARDS_VIEW)
    assert {row["key"] for row in agents["sessions"]} == set(keys)
    assert agents["totalCount"] == 3 and agents["hasMore"] is False and agents["nextOffset"] is None
    assert dashboards["sessions"] == [] and dashboards["totalCount"] == 0  # no session has a board here


async def test_sessions_list_pages_with_offset_newest_first(gateway, openclaw_schema):
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            keys = await _sessions(ws, 5)
            pages, offset = [], 0
            while offset is not None:
                params = {**LIST_BASE, "limit": 2, "offset": offset, "sortBy": "updatedAt"}
                check(openclaw_schema, "SessionsListParams", params)
                page = await call(ws, "sessions.list", params)
                pages.append(page)
                offset = page["nextOffset"]
    assert [len(page["sessions"]) for page in pages] == [2, 2, 1]
    assert [row["key"] for page in pages for row in page["sessions"]] == keys[::-1]
    assert [page["hasMore"] for page in pages] == [True, True, False]
    assert all(page["totalCount"] == 5 and page["limitApplied"] == 2 for page in pages)
    assert "offset" not in pages[0] and pages[1]["offset"] == 2


@pytest.mark.parametrize(("params", "listed"), [
    ({"archived": False}, True), ({"archived": "all"}, True), ({"archived": True}, False),
    ({"hasBoard": False}, True), ({"hasBoard": True}, False), ({"activeOnly": True}, False),
    ({"pinned": True}, False), ({"ownerId": "someone"}, False), ({"excludeCron": True}, True),
])
async def test_sessions_list_filters_on_what_this_store_holds(gateway, params, listed):
    """No session here is archived, pinned, owned or has a board; none runs once its turn ended."""
    with trio.fail_after(20):
        async with operator(gateway) as ws:
            (key,) = await _sessions(ws, 1)
            answer = await call(ws, "sessions.list", {**LIST_BASE, **params})
    assert [row["key"] for row in answer["sessions"]] == ([key] if listed else [])


@pytest.mark.parametrize(("params", "wrong"), [
    ({"archived": "some"}, "archived"), ({"archived": 1}, "archived"), ({"offset": -1}, "offset"),
    ({"sortBy": "name"}, "sortBy"),
])
async def test_sessions_list_bad_params_are_refused_naming_the_field(gateway, params, wrong):
    with trio.fail_after(10):
        async with operator(gateway) as ws:
            answer = await ws.call("sessions.list", params)
    assert answer["ok"] is False and answer["error"]["code"] == "INVALID_REQUEST"
    assert wrong in answer["error"]["message"] and "unexpected property" not in answer["error"]["message"]


async def test_chat_history_and_startup_take_input_run_ids(gateway, openclaw_schema):
    """The UI sends the run ids of inputs it queued; once a run has started it is no pending input."""
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            await call(ws, "chat.send", {"sessionKey": KEY, "message": "hi", "idempotencyKey": "run-1"})
            while (await ws.event("chat"))["payload"]["state"] != "final":
                pass
            history_params = {"sessionKey": KEY, "inputRunIds": ["run-1", "never-seen"], "limit": 1000}
            check(openclaw_schema, "ChatHistoryParams", history_params)
            history = await call(ws, "chat.history", history_params)
            startup = await call(ws, "chat.startup", {"sessionKey": KEY, "limit": 80, "maxBytes": 262144,
                                                      "inputRunIds": ["run-1"]})
            plain = await call(ws, "chat.history", {"sessionKey": KEY})
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    assert history["inputReceipts"] == [] and history["inputConsumptions"] == []
    assert startup["inputReceipts"] == [] and len(startup["messages"]) == 2
    assert "inputReceipts" not in plain


@pytest.mark.parametrize("ids", [[], [""], ["x" * 257], [f"r{n}" for n in range(51)]])
async def test_chat_history_bad_input_run_ids_are_refused(gateway, ids):
    with trio.fail_after(10):
        async with operator(gateway) as ws:
            answer = await ws.call("chat.history", {"sessionKey": KEY, "inputRunIds": ids})
    message = answer["error"]["message"]
    assert answer["ok"] is False and "inputRunIds" in message and "unexpected property" not in message


async def test_cron_runs_of_every_job_of_an_agent_as_the_automations_view_asks(gateway, openclaw_schema):
    check(openclaw_schema, "CronRunsParams", AUTOMATIONS_RUNS)
    job_add = {**CLI_ADD, "sessionTarget": "main", "payload": {"kind": "systemEvent", "text": "tick"},
               "delivery": {"mode": "none"}}
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            first = await call(ws, "cron.add", {**job_add, "name": "first"})
            second = await call(ws, "cron.add", {**job_add, "name": "second"})
            ran = [await call(ws, "cron.run", {"id": job["id"], "mode": "force"}) for job in (first, second)]
            every = await call(ws, "cron.runs", AUTOMATIONS_RUNS)
            no_scope = await call(ws, "cron.runs", {"limit": 50})  # protocol 4's default without an id: all
            other_agent = await call(ws, "cron.runs", {**AUTOMATIONS_RUNS, "agentId": "other"})
            one = await call(ws, "cron.runs", {"id": first["id"], "scope": "job", "agentId": "main"})
            elsewhere = await ws.call("cron.runs", {"id": first["id"], "agentId": "other"})
    assert [entry["runId"] for entry in every["entries"]] == [r["runId"] for r in ran][::-1]  # newest first
    for entry in every["entries"]:
        check(openclaw_schema, "CronRunLogEntry", entry)
    assert every["total"] == 2 and no_scope["total"] == 2 and other_agent["entries"] == []
    assert [entry["jobId"] for entry in one["entries"]] == [first["id"]]
    assert elsewhere["error"]["details"] == {"code": "CRON_JOB_NOT_FOUND", "jobId": first["id"]}


async def test_cron_runs_without_an_id_keeps_januarys_refusal_at_protocol_7(gateway):
    """A guard, not a fix: protocol 4's "all" default must not reach 3/7 clients."""
    with trio.fail_after(10):
        async with operator(gateway, protocol=7) as ws:
            answer = await ws.call("cron.runs", {"limit": 50})
    assert answer["ok"] is False and "missing id" in answer["error"]["message"]


async def test_plugins_list_is_empty_as_the_schema_has_it(gateway, openclaw_schema):
    check(openclaw_schema, "PluginsListParams", {})
    with trio.fail_after(10):
        async with operator(gateway) as ws:
            plugins = await call(ws, "plugins.list", {})
    check(openclaw_schema, "PluginsListResult", plugins)
    assert plugins == {"plugins": [], "diagnostics": [], "mutationAllowed": False}

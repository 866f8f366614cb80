"""Ids that become file names (agent, session, cron job, account ids) are checked before use (issue 15, §7).

Each test drives a real gateway over loopback with ids a hostile or buggy client sends: ``../`` paths,
NUL bytes, names longer than a file name may be. The answer is INVALID_REQUEST naming the field, with no
path and no OS error text, and nothing outside the state dir is read, written or deleted.
"""

import json

import pytest
import trio

from moltbot.agents.runtime import STRAY_STORES
from moltbot.gateway.methods.ids import check_ids
from moltbot.protocol._payloads.agent import AgentParams
from moltbot.protocol._payloads.channels import ChannelsLogoutParams

AGENT_RULE = "agentId must match /^[a-z0-9][a-z0-9_-]{0,63}$/i"


def assert_clean(error, tmp_path):
    """An error a client may see: no absolute path, no Python/OS exception text."""
    text = json.dumps(error)
    assert str(tmp_path) not in text and "Errno" not in text and "null byte" not in text, error


async def test_sessions_list_agent_id_with_dots_reads_nothing_outside_the_state_dir(raw, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside" / "sessions"
    outside.mkdir(parents=True)
    (outside / "sessions.json").write_text(json.dumps({"agent:x:secret": {"sessionId": "s1", "updatedAt": 1}}))
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("sessions.list", {"agentId": f"../../{tmp_path.name}-outside"})
    assert not reply["ok"]
    assert reply["error"]["code"] == "INVALID_REQUEST"
    assert reply["error"]["message"] == f"invalid sessions.list params: {AGENT_RULE}"
    assert "secret" not in json.dumps(reply)


@pytest.mark.parametrize("agent_id", ["a\x00b", "a" * 300, "x/y", ".."])
async def test_sessions_list_bad_agent_id_is_invalid_request_naming_the_field(raw, tmp_path, agent_id):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("sessions.list", {"agentId": agent_id})
    assert reply["error"] == {"code": "INVALID_REQUEST", "message": f"invalid sessions.list params: {AGENT_RULE}"}


async def test_agent_ids_are_matched_case_insensitively_as_in_the_original(raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("sessions.list", {"agentId": "MAIN"})
    assert reply["ok"], reply
    assert reply["payload"]["path"].endswith("/agents/main/sessions/sessions.json")


async def test_many_distinct_agent_ids_keep_the_store_cache_bounded(gateway, raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(60):
            for index in range(STRAY_STORES * 4):
                reply = await client.call("sessions.list", {"agentId": f"probe-{index}"}, request_id=f"l{index}")
                assert reply["ok"], reply
    agents = gateway.runtime.agents
    assert len(agents._stores) + len(agents._stray_stores) <= STRAY_STORES + len(agents.agent_ids())


async def test_whatsapp_logout_account_id_cannot_delete_a_directory_outside_credentials(raw, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call("channels.logout", {"channel": "whatsapp", "accountId": "../../victim"})
    assert reply["error"]["code"] == "INVALID_REQUEST"
    assert "accountId must match" in reply["error"]["message"]
    assert (victim / "keep.txt").read_text() == "mine"


async def add_and_run_job(client):
    job = await client.call("cron.add", {"name": "probe", "schedule": {"kind": "every", "everyMs": 3_600_000},
                                         "sessionTarget": "main", "wakeMode": "next-heartbeat",
                                         "payload": {"kind": "systemEvent", "text": "hi"}}, request_id="add")
    assert job["ok"], job
    ran = await client.call("cron.run", {"id": job["payload"]["id"], "mode": "force"}, request_id="run")
    assert ran["ok"], ran
    return job["payload"]["id"]


@pytest.mark.parametrize("method", ["cron.runs", "cron.run", "cron.remove"])
async def test_cron_job_id_longer_than_a_file_name_is_invalid_request_without_os_text(raw, tmp_path, method):
    async with raw(handshake=True) as client:
        with trio.fail_after(20):
            job_id = await add_and_run_job(client)  # the run log directory exists: a long name reaches the OS
            reply = await client.call(method, {"id": "a" * 300}, request_id="bad")
            runs = await client.call("cron.runs", {"id": job_id}, request_id="runs")
    assert reply["error"] == {"code": "INVALID_REQUEST",
                              "message": f"invalid {method} params: id must match /^[a-z0-9][a-z0-9._-]{{0,127}}$/i"}
    assert runs["ok"] and len(runs["payload"]["entries"]) == 1, runs


@pytest.mark.parametrize(("method", "params", "field"), [
    ("sessions.patch", {"key": "agent:main:a\x00b", "label": "x"}, "key"),
    ("sessions.preview", {"keys": ["main", "k" * 600]}, "keys"),
    ("chat.send", {"sessionKey": "main\x00", "message": "hi", "idempotencyKey": "i1"}, "sessionKey"),
    ("agent", {"message": "hi", "sessionId": "../x", "idempotencyKey": "i2"}, "sessionId"),
    ("cron.add", {"name": "x", "agentId": "../x", "schedule": {"kind": "every", "everyMs": 60_000},
                  "sessionTarget": "main", "wakeMode": "now", "payload": {"kind": "systemEvent", "text": "t"}},
     "agentId"),
    ("web.login.wait", {"accountId": "../x"}, "accountId"),
    ("node.pair.request", {"nodeId": "n" * 300}, "nodeId"),
])
async def test_other_id_params_are_checked_naming_the_field(raw, tmp_path, method, params, field):
    async with raw(handshake=True) as client:
        with trio.fail_after(10):
            reply = await client.call(method, params)
    assert reply["error"]["code"] == "INVALID_REQUEST", reply
    assert reply["error"]["message"].startswith(f"invalid {method} params: {field} must ")
    assert_clean(reply["error"], tmp_path)


async def test_cron_update_patch_agent_id_is_checked(raw):
    async with raw(handshake=True) as client:
        with trio.fail_after(20):
            job_id = await add_and_run_job(client)
            reply = await client.call("cron.update", {"id": job_id, "patch": {"agentId": "../../x"}}, request_id="u")
    assert reply["error"] == {"code": "INVALID_REQUEST",
                              "message": f"invalid cron.update params: patch.{AGENT_RULE}"}


def test_empty_optional_ids_mean_absent_so_the_handlers_default_applies():
    check_ids("channels.logout", ChannelsLogoutParams(channel="telegram", account_id=""))
    check_ids("agent", AgentParams(message="hi", idempotency_key="k", session_key=" ", agent_id=None))

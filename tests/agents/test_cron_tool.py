"""The agent's ``cron`` tool: this agent's jobs through the cron service (add, list, run, remove); a job it
adds is always its own agent's; a stranger's turn may not change jobs."""

import trio

from moltbot.agents.inbound import Sender
from moltbot.agents.runtime import Run
from moltbot.gateway.app import open_gateway
from tests.agents.test_agent_provider_runs import config_for


async def test_add_list_run_remove_own_jobs_only(tmp_path):
    async with open_gateway(config_for(tmp_path, "http://127.0.0.1:9"), port=0, env={}) as gateway:
        tools, cron = gateway.runtime.tools, gateway.runtime.cron
        owner = Run(run_id="r1", session_key="agent:main:main", agent_id="main", message="x")
        stranger = Run(run_id="r2", session_key="agent:main:main", agent_id="main", message="x",
                       sender=Sender(channel="telegram", sender_id="7", owner=False))
        with trio.fail_after(10):
            job = {"name": "remind", "schedule": {"kind": "every", "everyMs": 3_600_000},
                   "payload": {"kind": "systemEvent", "text": "stretch"}}
            added, error = await tools.invoke("cron", {"action": "add", "job": job}, run=owner)
            assert not error, added
            other = {**job, "name": "other", "agentId": "elsewhere"}
            foreign, _ = await tools.invoke("cron", {"action": "add", "job": other}, run=owner)
            listed, _ = await tools.invoke("cron", {"action": "list"}, run=owner)
            refused, refused_error = await tools.invoke("cron", {"action": "remove", "jobId": added["id"]},
                                                        run=stranger)
            bad, bad_error = await tools.invoke("cron", {"action": "add", "job": {"name": "x"}}, run=owner)
            ran, ran_error = await tools.invoke("cron", {"action": "run", "jobId": added["id"]}, run=owner)
            removed, _ = await tools.invoke("cron", {"action": "remove", "jobId": added["id"]}, run=owner)
            unknown, unknown_error = await tools.invoke("cron", {"action": "run", "jobId": "nope"}, run=owner)
    assert added["agentId"] == "main" and foreign["agentId"] == "main"  # always the calling agent's
    assert {j["name"] for j in listed["jobs"]} == {"remind", "other"}
    assert refused_error and "only the owner" in refused["error"]
    assert bad_error and "invalid job" in bad["error"]
    assert not ran_error and ran["ok"] is True
    assert removed == {"ok": True, "removed": True} and added["id"] not in cron.jobs
    assert unknown_error and "unknown job id" in unknown["error"]

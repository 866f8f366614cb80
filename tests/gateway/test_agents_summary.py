"""With several agents configured (``agents.list``), health, status and hello-ok describe all of them.

The shapes of HealthSummary and StatusSummary, hello-ok's ``snapshot.sessionDefaults``, and which agent
is the default (the one marked default, else the first).
"""

from __future__ import annotations

import json

import attrs
import pytest
import trio

from moltbot.config.model import AgentEntry, AgentsConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN, open_raw

NOW = 1_700_000_000_000


def write_store(state_dir, agent_id: str, keys: list[str]) -> str:
    path = state_dir / "agents" / agent_id / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True)
    entries = {key: {"sessionId": f"s-{i}", "updatedAt": NOW + i} for i, key in enumerate(keys)}
    path.write_text(json.dumps(entries))
    return str(path)


@pytest.fixture
def agents_config(make_config, tmp_path):
    """Two agents, the second marked default; each with sessions already on disk."""
    config = make_config()
    work = write_store(tmp_path, "work", ["agent:work:main", "agent:work:telegram:dm:1", "global"])
    home = write_store(tmp_path, "home", ["agent:home:main"])
    agents = AgentsConfig(entries=[AgentEntry(id="work"), AgentEntry(id="Home", default=True, name="Home bot")])
    return attrs.evolve(config, agents=agents), {"work": work, "home": home}


async def test_health_status_and_hello_describe_every_configured_agent(agents_config):
    config, paths = agents_config
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, open_raw(gateway.url) as ws:
            await ws.send(json.dumps({"type": "req", "id": "c1", "method": "connect", "params": {
                "minProtocol": 3, "maxProtocol": 7, "auth": {"token": TOKEN},
                "client": {"id": "test", "version": "1.0", "platform": "linux", "mode": "test"}}}))
            hello = (await ws.response("c1"))["payload"]
            health = (await ws.call("health", {"probe": True}, "h1"))["payload"]
            status = (await ws.call("status", None, "s1"))["payload"]

    assert hello["snapshot"]["sessionDefaults"] == {"defaultAgentId": "home", "mainKey": "main",
                                                    "mainSessionKey": "agent:home:main", "scope": "per-sender"}
    assert hello["snapshot"]["health"]["defaultAgentId"] == "home"

    assert health["defaultAgentId"] == "home"
    agents = {agent["agentId"]: agent for agent in health["agents"]}
    assert [agent["agentId"] for agent in health["agents"]] == ["work", "home"]
    assert agents["home"]["isDefault"] is True and agents["work"]["isDefault"] is False
    assert agents["home"]["name"] == "Home bot"
    # "global" is not a conversation: not counted (as the original's health summary)
    assert agents["work"]["sessions"]["count"] == 2 and agents["work"]["sessions"]["path"] == paths["work"]
    assert [row["key"] for row in agents["work"]["sessions"]["recent"]] == ["agent:work:telegram:dm:1",
                                                                             "agent:work:main"]
    assert agents["home"]["sessions"]["count"] == 1
    assert health["sessions"] == agents["home"]["sessions"]  # the default agent's
    # the heartbeat runs on the default agent's main session only (30m by default)
    assert agents["home"]["heartbeat"]["enabled"] is True and agents["home"]["heartbeat"]["everyMs"] == 1_800_000
    assert agents["work"]["heartbeat"]["enabled"] is False
    assert health["heartbeatSeconds"] == 1800

    assert status["heartbeat"]["defaultAgentId"] == "home"
    assert [(a["agentId"], a["enabled"]) for a in status["heartbeat"]["agents"]] == [("work", False), ("home", True)]
    sessions = status["sessions"]
    assert sessions["count"] == 3 and sessions["paths"] == [paths["work"], paths["home"]]
    assert [(a["agentId"], a["count"], a["path"]) for a in sessions["byAgent"]] == [
        ("work", 2, paths["work"]), ("home", 1, paths["home"])]
    assert [row["key"] for row in sessions["recent"]] == ["agent:work:telegram:dm:1", "agent:work:main",
                                                          "agent:home:main"]
    assert sessions["recent"][0]["agentId"] == "work" and sessions["recent"][0]["kind"] == "direct"


async def test_a_session_created_by_a_run_is_counted(client):
    """Without ``agents.list`` the one agent is ``main``; its counts follow the store, not a constant."""
    async with client() as c:
        before = await c.call("health", {"probe": True})
        assert before["defaultAgentId"] == "main" and before["sessions"]["count"] == 0
        run = await c.call("agent", {"message": "hi", "sessionKey": "main", "idempotencyKey": "run-1"})
        await c.call("agent.wait", {"runId": run["runId"], "timeoutMs": 5000})
        after = await c.call("health", {"probe": True})
        status = await c.call("status")
    assert after["sessions"]["count"] == 1 and after["sessions"]["recent"][0]["key"] == "agent:main:main"
    assert status["sessions"]["count"] == 1 and status["sessions"]["byAgent"][0]["agentId"] == "main"


async def test_an_unreadable_store_counts_as_empty_and_health_keeps_working(make_config, tmp_path):
    config = make_config()
    write_store(tmp_path, "work", ["agent:work:main"])
    broken = tmp_path / "agents" / "home" / "sessions" / "sessions.json"
    broken.mkdir(parents=True)  # a directory where the store should be: reading it fails with an OSError
    config = attrs.evolve(config, agents=AgentsConfig(entries=[AgentEntry(id="work"), AgentEntry(id="home")]))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, open_raw(gateway.url, handshake=True) as ws:
            health = (await ws.call("health", {"probe": True}, "h1"))["payload"]
            status = (await ws.call("status", None, "s1"))["payload"]
    assert [(a["agentId"], a["sessions"]["count"]) for a in health["agents"]] == [("work", 1), ("home", 0)]
    assert status["sessions"]["count"] == 1

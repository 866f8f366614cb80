"""Tool policy (profiles, groups, allow/deny, global then per agent) and the file tools confined to the
workspace, driven through the gateway by the fake OpenAI server: the model sees only admitted tools, a
call is streamed as ``tool`` agent events and stored in the transcript in the reference's format."""

import json
import os

import attrs
import pytest
import trio

from moltbot.agents.tools import ToolError
from moltbot.agents.tools.fs import confine
from moltbot.agents.tools.policy import policy_for
from moltbot.client import open_gateway_client
from moltbot.config.load import parse_config
from moltbot.gateway.app import open_gateway
from tests.agents.test_agent_provider_runs import config_for
from tests.conftest import TOKEN
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply


def policy(raw, agent="main"):
    return policy_for(parse_config(raw), agent)


def test_no_policy_admits_everything_and_deny_wins():
    assert policy({}).admits("exec")
    p = policy({"tools": {"allow": ["group:fs", "exec"], "deny": ["write"]}})
    assert [n for n in ("read", "write", "edit", "exec", "web_fetch") if p.admits(n)] == ["read", "edit", "exec"]


def test_groups_wildcards_aliases_and_case():
    p = policy({"tools": {"deny": ["group:runtime", "sessions_*"]}})
    assert not p.admits("exec") and not p.admits("BASH") and not p.admits("sessions_spawn") and p.admits("read")


def test_agent_layer_narrows_the_global_one():
    raw = {"tools": {"deny": ["exec"]}, "agents": {"list": [{"id": "main"}, {"id": "work", "tools": {
        "allow": ["group:fs", "exec"]}}]}}
    assert policy(raw, "main").admits("web_fetch") and not policy(raw, "work").admits("web_fetch")
    assert not policy(raw, "work").admits("exec")  # the global deny still holds


def test_profiles():
    assert policy({"tools": {"profile": "messaging"}}).filter(["message", "read", "sessions_send"]) == [
        "message", "sessions_send"]
    assert policy({"tools": {"profile": "coding"}}).admits("exec")


def test_confine_refuses_escapes_and_symlinks_out(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", workspace / "link")
    assert confine(workspace, "sub/a.txt", workspace_only=True) == (workspace / "sub" / "a.txt").resolve()
    for bad in ("../secret", str(tmp_path / "secret"), "link", "sub/../../secret"):
        with pytest.raises(ToolError, match="outside the workspace"):
            confine(workspace, bad, workspace_only=True)
    assert confine(workspace, "link", workspace_only=False) == (tmp_path / "secret").resolve()


def with_tools(config, workspace, **tools):
    return attrs.evolve(config, tools=attrs.evolve(config.tools, **tools),
                        agents=attrs.evolve(config.agents, defaults=attrs.evolve(
                            config.agents.defaults, workspace=str(workspace))))


async def test_write_edit_read_through_the_model_with_events_and_transcript(tmp_path):
    workspace = tmp_path / "ws"
    calls = [ScriptedCall("c1", "write", {"path": "notes/todo.md", "content": "buy milk\n"}),
             ScriptedCall("c2", "edit", {"path": "notes/todo.md", "oldText": "milk", "newText": "oat milk"}),
             ScriptedCall("c3", "read", {"path": "../outside.txt"})]
    async with open_fake_openai(tool_call_reply(*calls), text_reply("done")) as fake:
        config = with_tools(config_for(tmp_path, fake.base_url), workspace, deny=["exec"])
        async with open_gateway(config, port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "note it", "idempotencyKey": "f1"})
            with trio.fail_after(10):
                assert (await client.call("agent.wait", {"runId": "f1"}))["status"] == "ok"
            run = gateway.runtime.agents.runs["f1"]
            store = gateway.runtime.agents.store("main")
            transcript = await store.read_transcript(store.transcript_path(store.entries["agent:main:main"]))
    assert (workspace / "notes" / "todo.md").read_text() == "buy oat milk\n"
    offered = {t["function"]["name"] for t in fake.requests[0].json()["tools"]}
    assert {"read", "write", "edit", "memory_search"} <= offered and "exec" not in offered
    roles = [(m["role"], m.get("stopReason")) for m in transcript]
    assert roles == [("user", None), ("assistant", "toolUse"), ("toolResult", None), ("toolResult", None),
                     ("toolResult", None), ("assistant", "stop")]
    call_parts = transcript[1]["content"]
    assert call_parts[0] == {"type": "toolCall", "id": "c1", "name": "write", "arguments": calls[0].arguments}
    refused = transcript[4]
    assert refused["toolCallId"] == "c3" and refused["isError"] is True
    assert "outside the workspace" in refused["content"][0]["text"]
    assert run.seq >= 8  # lifecycle start, 3 × (tool start, tool result), deltas, end
    second = fake.requests[1].json()["messages"]
    assert [m["role"] for m in second[-4:]] == ["assistant", "tool", "tool", "tool"]


async def test_a_denied_tool_is_not_offered_and_a_call_to_it_is_unknown(tmp_path):
    calls = [ScriptedCall("c1", "write", {"path": "x", "content": "y"})]
    async with open_fake_openai(tool_call_reply(*calls), text_reply("ok")) as fake:
        config = with_tools(config_for(tmp_path, fake.base_url), tmp_path / "ws", deny=["group:fs"])
        async with open_gateway(config, port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "write", "idempotencyKey": "d1"})
            with trio.fail_after(10):
                await client.call("agent.wait", {"runId": "d1"})
    assert "write" not in {t["function"]["name"] for t in fake.requests[0].json()["tools"]}
    result = fake.requests[1].json()["messages"][-1]
    assert json.loads(result["content"]) == {"error": "unknown tool: write"}
    assert not (tmp_path / "ws" / "x").exists()

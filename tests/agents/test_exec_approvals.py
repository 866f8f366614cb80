"""``exec`` behind the exec approvals: the file's rules, the approvals methods over a real WebSocket,
the run waiting on an approval and resuming, ``/approve`` from the chat, and the CLI answering."""

import json
import stat
import sys

import attrs
import pytest
import trio

from moltbot.agents import approvals as rules
from moltbot.client import open_gateway_client
from moltbot.config.load import ConfigError, parse_config
from moltbot.config.tools import ExecToolConfig
from moltbot.gateway.app import open_gateway
from moltbot.protocol import RemoteProtocolError
from tests.agents.test_agent_provider_runs import config_for
from tests.conftest import TOKEN
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply


def policy(**fields):
    return rules.Policy(security=fields.get("security", "allowlist"), ask=fields.get("ask", "on-miss"),
                        ask_fallback="deny", allowlist=tuple(fields.get("allowlist", ())))


def test_every_segment_must_be_allowlisted(tmp_path):
    echo = {"id": "e", "pattern": "echo"}
    allowed = policy(allowlist=[echo, {"id": "t", "pattern": "/usr/bin/tr"}])
    assert rules.evaluate(allowed, "echo hi | tr a-z A-Z", tmp_path, "/usr/bin:/bin").decision == "allow"
    assert rules.evaluate(allowed, "echo hi && rm -rf x", tmp_path, "/usr/bin:/bin").decision == "ask"
    for sneaky in ("echo $(id)", "echo `id`", "echo hi > f", "echo a\nid"):
        assert rules.evaluate(allowed, sneaky, tmp_path, "/usr/bin:/bin").decision == "ask", sneaky
    assert rules.evaluate(policy(security="deny"), "echo", tmp_path, None).decision == "deny"
    assert rules.evaluate(policy(ask="off"), "id", tmp_path, "/usr/bin:/bin").decision == "deny"
    assert rules.evaluate(policy(security="full", ask="always"), "id", tmp_path, None).decision == "ask"


def test_the_stricter_of_file_and_config_wins():
    file = {"version": 1, "defaults": {"security": "full", "ask": "off"}, "agents": {"main": {"ask": "always"}}}
    merged = rules.effective_policy(file, "main", ExecToolConfig(security="allowlist"))
    assert (merged.security, merged.ask, merged.ask_fallback) == ("allowlist", "always", "deny")
    assert rules.effective_policy({"version": 1}, "x", ExecToolConfig()).security == "allowlist"


def test_a_bad_file_is_named_and_sandbox_without_backend_refuses_the_config():
    with pytest.raises(rules.ApprovalsFileError, match="defaults.security"):
        rules.normalize({"defaults": {"security": "yolo"}})
    with pytest.raises(ConfigError, match="sandbox"):
        parse_config({"agents": {"defaults": {"sandbox": {"mode": "all", "backend": "docker"}}}})


def exec_config(tmp_path, base_url, **exec_fields):
    config = config_for(tmp_path, base_url)
    return attrs.evolve(config, tools=attrs.evolve(config.tools, exec=attrs.evolve(config.tools.exec, **exec_fields)),
                        agents=attrs.evolve(config.agents, defaults=attrs.evolve(
                            config.agents.defaults, workspace=str(tmp_path / "ws"))))


async def test_full_security_runs_the_command_and_returns_its_output(tmp_path):
    call = ScriptedCall("c1", "exec", {"command": "echo hello from $PWD; exit 3"})
    async with open_fake_openai(tool_call_reply(call), text_reply("ran")) as fake:
        async with open_gateway(exec_config(tmp_path, fake.base_url, security="full", ask="off"), port=0,
                                env={}) as gateway, open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "run it", "idempotencyKey": "x1"})
            with trio.fail_after(10):
                await client.call("agent.wait", {"runId": "x1"})
    result = json.loads(fake.requests[1].json()["messages"][-1]["content"])
    assert result["exitCode"] == 3 and result["status"] == "failed"
    assert result["output"].strip() == f"hello from {(tmp_path / 'ws').resolve()}"


async def test_background_run_is_polled_and_killed_with_process(tmp_path):
    calls = [ScriptedCall("c1", "exec", {"command": "echo started; sleep 30", "yieldMs": 200})]
    async with open_fake_openai(tool_call_reply(*calls), text_reply("bg")) as fake:
        async with open_gateway(exec_config(tmp_path, fake.base_url, security="full", ask="off"), port=0,
                                env={}) as gateway, open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "bg", "idempotencyKey": "b1"})
            with trio.fail_after(10):
                await client.call("agent.wait", {"runId": "b1"})
            started = json.loads(fake.requests[1].json()["messages"][-1]["content"])
            assert started["status"] == "running"
            tools = gateway.runtime.tools
            with trio.fail_after(5):
                polled = (await tools.invoke("process", {"action": "poll", "sessionId": started["sessionId"]}))[0]
                killed = (await tools.invoke("process", {"action": "kill", "sessionId": started["sessionId"]}))[0]
    assert "started" in started["tail"] and polled["status"] == "running"
    assert killed["status"] == "failed" and killed["exitCode"] == -9


async def test_a_miss_waits_for_approval_and_allow_always_extends_the_allowlist(tmp_path):
    call = ScriptedCall("c1", "exec", {"command": "echo approved"})
    async with open_fake_openai(tool_call_reply(call), text_reply("ok")) as fake:
        async with open_gateway(exec_config(tmp_path, fake.base_url), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            events = client.subscribe()
            await client.call("agent", {"message": "run", "idempotencyKey": "a1"})
            with trio.fail_after(10):
                async for event in events:
                    if event.event == "exec.approval.requested":
                        break
                requested = event.payload
                assert [row["id"] for row in await client.call("exec.approval.list", {})] == [requested["id"]]
                await client.call("exec.approval.resolve", {"id": requested["id"], "decision": "allow-always"})
                assert (await client.call("agent.wait", {"runId": "a1"}))["status"] == "ok"
                snapshot = await client.call("exec.approvals.get", {})
    assert requested["request"]["command"] == "echo approved" and requested["request"]["agentId"] == "main"
    result = json.loads(fake.requests[1].json()["messages"][-1]["content"])
    assert result["output"] == "approved\n"
    (entry,) = snapshot["file"]["agents"]["main"]["allowlist"]
    assert entry["pattern"].endswith("/echo") and snapshot["exists"]
    assert stat.S_IMODE((tmp_path / "exec-approvals.json").stat().st_mode) == 0o600


async def test_timeout_applies_the_fallback_and_nothing_runs(tmp_path):
    marker = tmp_path / "ws" / "ran"
    call = ScriptedCall("c1", "exec", {"command": f"touch {marker}"})
    async with open_fake_openai(tool_call_reply(call), text_reply("no")) as fake:
        async with open_gateway(exec_config(tmp_path, fake.base_url, approval_timeout_ms=300), port=0,
                                env={}) as gateway, open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "run", "idempotencyKey": "t1"})
            with trio.fail_after(10):
                await client.call("agent.wait", {"runId": "t1"})
    result = json.loads(fake.requests[1].json()["messages"][-1]["content"])
    assert "timed out" in result["error"] and not marker.exists()


async def test_approvals_set_needs_the_base_hash_and_keeps_the_socket_token(tmp_path):
    (tmp_path / "exec-approvals.json").write_text(json.dumps({"version": 1, "socket": {"token": "s3cret"}}))
    async with open_gateway(config_for(tmp_path, "http://127.0.0.1:9/v1"), port=0, env={}) as gateway, \
            open_gateway_client(gateway.url, token=TOKEN) as client:
        got = await client.call("exec.approvals.get", {})
        wanted = {"version": 1, "defaults": {"security": "full"}}
        with pytest.raises(RemoteProtocolError, match="base hash required"):
            await client.call("exec.approvals.set", {"file": wanted})
        written = await client.call("exec.approvals.set", {"file": wanted, "baseHash": got["hash"]})
        with pytest.raises(RemoteProtocolError, match="changed since"):
            await client.call("exec.approvals.set", {"file": wanted, "baseHash": got["hash"]})
        with pytest.raises(RemoteProtocolError, match="unknown approval id"):
            await client.call("exec.approval.resolve", {"id": "nope", "decision": "deny"})
    assert "s3cret" not in json.dumps(got) and written["file"]["defaults"] == {"security": "full"}
    assert json.loads((tmp_path / "exec-approvals.json").read_text())["socket"]["token"] == "s3cret"


async def test_the_cli_lists_and_allows_a_waiting_request(tmp_path):
    call = ScriptedCall("c1", "exec", {"command": "echo via cli"})
    async with open_fake_openai(tool_call_reply(call), text_reply("ok")) as fake:
        async with open_gateway(exec_config(tmp_path, fake.base_url), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            events = client.subscribe()
            await client.call("agent", {"message": "run", "idempotencyKey": "c1"})
            with trio.fail_after(30):
                async for event in events:
                    if event.event == "exec.approval.requested":
                        break
                approval_id = event.payload["id"]
                base = [sys.executable, "-m", "moltbot", "approvals"]
                opts = ["--url", gateway.url, "--token", TOKEN]
                env = {"HOME": str(tmp_path), "CLAWDBOT_STATE_DIR": str(tmp_path / "cli-state"), "PATH": "/usr/bin:/bin",
                       "PYTHONPATH": sys.path[0] if sys.path[0] else "."}
                listed = await trio.run_process([*base, "list", *opts], capture_stdout=True, env=env)
                await trio.run_process([*base, "allow", approval_id, *opts], capture_stdout=True, env=env)
                assert (await client.call("agent.wait", {"runId": "c1"}))["status"] == "ok"
    assert approval_id in listed.stdout.decode() and "echo via cli" in listed.stdout.decode()
    assert json.loads(fake.requests[1].json()["messages"][-1]["content"])["output"] == "via cli\n"


async def test_moltbot_agent_asks_when_its_run_waits_for_approval(tmp_path):
    from moltbot.cli.agent import ReplyStream, run_turn

    call = ScriptedCall("c1", "exec", {"command": "echo asked"})
    prompts = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "y\n"

    async with open_fake_openai(tool_call_reply(call), text_reply("it said asked")) as fake:
        async with open_gateway(exec_config(tmp_path, fake.base_url), port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN, scopes=["operator.admin", "operator.approvals"]) as client:
            stream = ReplyStream("cli-run", echo=False)
            with trio.fail_after(10):
                final = await run_turn(client, {"message": "run it", "idempotencyKey": "cli-run"}, stream, ask=ask)
    assert len(prompts) == 1 and "echo asked" in prompts[0] and "[y]es once" in prompts[0]
    assert final["result"]["text"] == "it said asked" and stream.text == "it said asked"
    assert json.loads(fake.requests[1].json()["messages"][-1]["content"])["output"] == "asked\n"

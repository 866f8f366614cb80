"""The exec sandbox: a backend this machine lacks refuses the config (and the run), and a sandboxed
session's command runs under bubblewrap with only its workspace writable and nothing else of the host."""

import json
import os
import shutil

import attrs
import pytest
import trio

from moltbot.client import open_gateway_client
from moltbot.config import tools as tool_config
from moltbot.config.load import ConfigError, parse_config
from moltbot.config.tools import SandboxConfig, sandbox_problem
from moltbot.gateway.app import open_gateway
from tests.agents.test_exec_approvals import exec_config
from tests.conftest import TOKEN
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


def nothing(name: str) -> None:
    return None


def test_a_sandbox_this_machine_cannot_provide_refuses_the_config(monkeypatch):
    assert sandbox_problem(SandboxConfig(mode="off", backend="docker"), nothing) is None
    assert "needs bubblewrap" in sandbox_problem(SandboxConfig(mode="non-main"), nothing)
    assert "only the bubblewrap backend" in sandbox_problem(
        SandboxConfig(mode="all", backend="docker"), lambda name: "/usr/bin/bwrap"
    )
    assert sandbox_problem(SandboxConfig(mode="all"), lambda name: "/usr/bin/bwrap") is None
    monkeypatch.setattr(tool_config.shutil, "which", nothing)
    with pytest.raises(ConfigError, match="needs bubblewrap"):
        parse_config({"agents": {"defaults": {"sandbox": {"mode": "all"}}}})


def _sandboxed(config, **sandbox):
    defaults = config.agents.defaults
    return attrs.evolve(
        config,
        agents=attrs.evolve(config.agents, defaults=attrs.evolve(defaults, sandbox=SandboxConfig(**sandbox))),
    )


@needs_bwrap
async def test_a_sandboxed_command_sees_only_its_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLTBOT_SANDBOX_TEST_SECRET", "gateway-only")
    probe = (
        "echo written > made-inside.txt; "  # HOST and PORT: the fake provider's, on the host's loopback
        f"test -e {tmp_path}/exec-approvals.json && echo state-visible || echo state-hidden; "
        "touch /usr/should-fail 2>/dev/null && echo usr-writable || echo usr-readonly; "
        "echo secret=${MOLTBOT_SANDBOX_TEST_SECRET:-none} home=$HOME; "
        "python3 -c 'print(\"python-runs\")'; "
        "python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)' "
        "HOST PORT 2>/dev/null && echo net-open || echo net-closed"
    )
    async with open_fake_openai() as fake:
        host, port = fake.base_url.split("//")[1].split("/")[0].split(":")
        call = ScriptedCall("c1", "exec", {"command": probe.replace("HOST PORT", f"{host} {port}")})
        fake.queue(
            tool_call_reply(call),
            text_reply("done"),
            tool_call_reply(ScriptedCall("c2", "exec", {"command": "echo main-session"})),
            text_reply("done"),
        )
        config = _sandboxed(exec_config(tmp_path, fake.base_url, security="full", ask="off"), mode="non-main")
        async with (
            open_gateway(config, port=0, env={}) as gateway,
            open_gateway_client(gateway.url, token=TOKEN) as client,
        ):
            with trio.fail_after(20):
                for key, run_id in (("agent:main:guest", "s1"), ("main", "s2")):
                    await client.call(
                        "chat.send", {"sessionKey": key, "message": "go", "idempotencyKey": run_id}
                    )
                    assert (await client.call("agent.wait", {"runId": run_id}))["status"] == "ok"
    sandboxed = json.loads(fake.requests[1].json()["messages"][-1]["content"])
    main = json.loads(fake.requests[3].json()["messages"][-1]["content"])
    output = sandboxed["output"]
    assert (tmp_path / "ws" / "made-inside.txt").read_text() == "written\n"
    assert "state-hidden" in output and "usr-readonly" in output
    assert "python-runs" in output and "net-closed" in output  # python works; only the connection fails
    assert f"secret=none home={(tmp_path / 'ws').resolve()}" in output
    assert main["output"] == "main-session\n"  # non-main: the agent's main session runs as before
    assert os.environ["MOLTBOT_SANDBOX_TEST_SECRET"] == "gateway-only"


@needs_bwrap
async def test_a_sandboxed_run_is_refused_when_bubblewrap_goes_missing(tmp_path, monkeypatch):
    marker = tmp_path / "ws" / "ran"
    call = ScriptedCall("c1", "exec", {"command": f"touch {marker}"})
    async with open_fake_openai(tool_call_reply(call), text_reply("no")) as fake:
        config = _sandboxed(exec_config(tmp_path, fake.base_url, security="full", ask="off"), mode="all")
        async with (
            open_gateway(config, port=0, env={}) as gateway,
            open_gateway_client(gateway.url, token=TOKEN) as client,
        ):
            monkeypatch.setattr(tool_config.shutil, "which", nothing)  # after the config was accepted
            with trio.fail_after(20):
                await client.call("agent", {"message": "go", "idempotencyKey": "m1"})
                await client.call("agent.wait", {"runId": "m1"})
    result = fake.requests[1].json()["messages"][-1]["content"]
    assert "the sandbox is unavailable" in result and "nothing was run" in result
    assert not marker.exists()

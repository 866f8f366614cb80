"""`moltbot node run` as a real process, `moltbot nodes …` and `moltbot devices …` in-process (click's
runner, same HOME), against a gateway on loopback: the CLI and the node host share the machine's device
identity (0600)."""

from __future__ import annotations

import json
import stat
import subprocess
from contextlib import asynccontextmanager

import trio

from moltbot.client import open_gateway_client
from moltbot.gateway.app import open_gateway
from tests.cli.helpers import MOLTBOT
from tests.cli_inprocess import run_cli_inprocess
from tests.conftest import TOKEN
from tests.nodes.helpers import wait_until


async def _moltbot(env: dict, *args: str) -> dict | list | str:
    result = await run_cli_inprocess(env, *args)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    try:
        return json.loads(text)
    except ValueError:
        return text


@asynccontextmanager
async def _gateway(make_config):
    """A gateway for tests that run CLI processes (slower than the ``gateway`` fixture's 10 s budget)."""
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        yield gateway


async def test_node_run_then_nodes_invoke_and_devices_list(make_config, home):
    tmp_path, env = home
    async with _gateway(make_config) as gateway:
        await _node_run_then_nodes_invoke_and_devices_list(gateway, tmp_path, env)


async def _node_run_then_nodes_invoke_and_devices_list(gateway, tmp_path, env):
    target = ["--url", gateway.url, "--token", TOKEN]
    node = await trio.lowlevel.open_process([*MOLTBOT, "node", "run", *target, "--display-name", "cli-node"],
                                            env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with trio.fail_after(60):
            async with open_gateway_client(gateway.url, token=TOKEN) as operator:
                async def node_listed() -> bool:
                    return any(n["connected"] for n in (await operator.call("node.list"))["nodes"])

                await wait_until(node_listed, interval=0.1)
            nodes = await _moltbot(env, "nodes", "list", *target, "--json")
            which = await _moltbot(env, "nodes", "invoke", "--node", "cli-node", "--command", "system.which",
                                   "--params", '{"bins": ["sh"]}', *target)
            devices = await _moltbot(env, "devices", "list", *target, "--json")
    finally:
        node.kill()
        await node.wait()
    identity = tmp_path / ".clawdbot" / "identity" / "device.json"
    device_id = json.loads(identity.read_text())["deviceId"]
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    assert [(n["nodeId"], n["displayName"]) for n in nodes["nodes"]] == [(device_id, "cli-node")]
    assert set(which["bins"]) == {"sh"}
    paired = {d["deviceId"]: d for d in devices["paired"]}
    assert sorted(paired[device_id]["roles"]) == ["node", "operator"]  # one machine, one device, two roles
    stored = json.loads((tmp_path / ".clawdbot" / "identity" / "device-auth.json").read_text())
    assert set(stored["tokens"]) == {"node", "operator"}


async def test_devices_approve_unknown_request_fails_with_the_gateways_words(make_config, home):
    _, env = home
    with trio.fail_after(30):
        async with _gateway(make_config) as gateway:
            result = await run_cli_inprocess(env, "devices", "approve", "nope", "--url", gateway.url, "--token", TOKEN)
    assert result.returncode == 1
    assert "gateway error: INVALID_REQUEST: unknown requestId" in result.stderr

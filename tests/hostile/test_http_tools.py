"""Issue 15 §11 (GHSA-943q-mwmv-hhvh): ``/tools/invoke`` denies session orchestration and the gateway's own
control plane by default; ``gateway.tools.allow``/``deny`` (today's OpenClaw keys) change that list. A
tool that fails is reported without Python's exception text."""

from __future__ import annotations

import pytest

from moltbot.config.model import GatewayToolsConfig
from moltbot.gateway.app import open_gateway
from tests.hostile.http_raw import AUTH, request

NOT_AVAILABLE = "not_found"


async def invoke(gateway, body):
    return await request(gateway, "POST", "/tools/invoke", body=body, headers=AUTH)


@pytest.mark.parametrize("tool", ["sessions_send", "gateway"])
async def test_orchestration_tools_are_denied_over_http_by_default(make_config, tool):
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        assert tool in gateway.runtime.tools.names()
        answer = await invoke(gateway, {"tool": tool, "args": {"sessionKey": "main", "message": "hi"},
                                        "action": "config.get"})
    assert answer.status == 404
    assert answer.json() == {"ok": False, "error": {"type": NOT_AVAILABLE, "message": f"Tool not available: {tool}"}}


async def test_gateway_tools_allow_takes_a_tool_off_the_deny_list(make_config):
    config = make_config(tools=GatewayToolsConfig(allow=["sessions_send"]))
    async with open_gateway(config, port=0, env={}) as gateway:
        answer = await invoke(gateway, {"tool": "sessions_send", "args": {}})
    # It reached the tool: the tool's own refusal of the missing arguments.
    assert answer.status == 400 and answer.json()["error"]["type"] == "tool_error", answer.body


async def test_gateway_tools_deny_adds_to_the_deny_list(make_config):
    async with open_gateway(make_config(tools=GatewayToolsConfig(deny=["boom"])), port=0, env={}) as gateway:
        gateway.runtime.tools.register("boom", "test tool", {"type": "object"}, _ok)
        answer = await invoke(gateway, {"tool": "boom"})
    assert answer.status == 404 and answer.json()["error"]["type"] == NOT_AVAILABLE


async def _ok(arguments, run):
    return {"fine": True}


async def _fails(arguments, run):
    open("/nonexistent-dir/secret-file.txt")  # noqa: ASYNC230, SIM115 (the failure is the point)


async def test_a_failing_tool_is_reported_without_python_text(make_config):
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        gateway.runtime.tools.register("fails", "test tool", {"type": "object"}, _fails)
        answer = await invoke(gateway, {"tool": "fails"})
    assert answer.status == 400 and answer.json()["error"]["type"] == "tool_error"
    text = answer.body.decode()
    assert "nonexistent-dir" not in text and "Errno" not in text and "No such file" not in text, text

"""Thinking levels reach the providers: ``/think``, ``chat.send``/``agent`` ``thinking`` and the default
become OpenAI-compatible ``reasoning_effort`` and Anthropic's thinking budget, read from the request bodies
the fake servers recorded."""

import attrs
import pytest
import trio

from moltbot.agents.providers.anthropic import request_to_anthropic
from moltbot.agents.providers.base import Message, ModelRequest
from moltbot.agents.providers.openai import request_to_openai
from moltbot.agents.thinking import normalize_level, wire_level
from moltbot.client import open_gateway_client
from moltbot.config.model import ModelProviderConfig, ModelsConfig
from moltbot.gateway.app import open_gateway
from moltbot.protocol import RemoteProtocolError
from tests.agents.test_agent_provider_runs import config_for
from tests.conftest import TOKEN
from tests.fakes.anthropic import ScriptedToolUse, open_fake_anthropic, tool_use_reply
from tests.fakes.anthropic import text_reply as anthropic_text
from tests.fakes.openai import open_fake_openai, text_reply

HELLO = (Message("user", "hi"),)


def test_levels_and_their_wire_forms():
    assert [normalize_level(v) for v in ("HIGH", "ultrathink", "on", "loud", None)] == [
        "high",
        "high",
        "low",
        None,
        None,
    ]
    assert [wire_level(v) for v in ("off", "xhigh", "minimal")] == [None, "high", "minimal"]
    openai = request_to_openai(ModelRequest(model="m", messages=HELLO, thinking="medium", temperature=0.2))
    assert openai["reasoning_effort"] == "medium" and openai["temperature"] == 0.2
    assert "reasoning_effort" not in request_to_openai(ModelRequest(model="m", messages=HELLO))
    anthropic = request_to_anthropic(ModelRequest(model="c", messages=HELLO, thinking="low", temperature=0.2))
    assert anthropic["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert anthropic["max_tokens"] == 4096 + 2048 and "temperature" not in anthropic
    plain = request_to_anthropic(ModelRequest(model="c", messages=HELLO, temperature=0.2))
    assert "thinking" not in plain and plain["max_tokens"] == 4096 and plain["temperature"] == 0.2


def _with_models(config, provider: str, models: list):
    entry = config.models.providers[provider]
    return attrs.evolve(config, models=ModelsConfig(providers={provider: attrs.evolve(entry, models=models)}))


async def _send(client, message: str, run_id: str, **extra) -> None:
    await client.call(
        "chat.send", {"sessionKey": "main", "message": message, "idempotencyKey": run_id, **extra}
    )
    await client.call("agent.wait", {"runId": run_id})


async def test_think_command_and_run_levels_reach_the_openai_request(tmp_path):
    async with open_fake_openai(default=text_reply("ok")) as fake:
        async with (
            open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway,
            open_gateway_client(gateway.url, token=TOKEN) as client,
        ):
            with trio.fail_after(10):
                await _send(client, "before", "r0")
                await _send(client, "/think high", "c1")  # a command: no model call
                await _send(client, "after", "r1")
                await _send(client, "just this once", "r2", thinking="minimal")
                await client.call(
                    "agent", {"message": "via agent", "idempotencyKey": "r3", "thinking": "off"}
                )
                await client.call("agent.wait", {"runId": "r3"})
                with pytest.raises(RemoteProtocolError, match="unknown thinking level"):
                    await client.call("agent", {"message": "x", "idempotencyKey": "r4", "thinking": "loud"})
    efforts = [request.json().get("reasoning_effort") for request in fake.requests]
    assert efforts == [None, "high", "minimal", None]


async def test_a_model_the_catalog_marks_not_reasoning_is_not_asked(tmp_path):
    async with open_fake_openai(default=text_reply("ok")) as fake:
        config = _with_models(
            config_for(tmp_path, fake.base_url), "local", [{"id": "fake-model", "reasoning": False}]
        )
        config = attrs.evolve(
            config,
            agents=attrs.evolve(
                config.agents, defaults=attrs.evolve(config.agents.defaults, thinking_default="high")
            ),
        )
        async with (
            open_gateway(config, port=0, env={}) as gateway,
            open_gateway_client(gateway.url, token=TOKEN) as client,
        ):
            with trio.fail_after(10):
                await _send(client, "hello", "n1")
    assert "reasoning_effort" not in fake.requests[0].json()


async def test_anthropic_gets_a_budget_and_its_thinking_back_with_the_tool_calls(tmp_path):
    call = ScriptedToolUse(id="toolu_1", name="echo_tool", input={"text": "ping"})
    replies = [tool_use_reply(call, thinking=("Let me call the tool.", "sig-abc")), anthropic_text("done")]
    async with open_fake_anthropic(*replies) as fake:
        config = config_for(tmp_path, fake.base_url)
        config = attrs.evolve(
            config,
            models=ModelsConfig(
                providers={
                    "local": ModelProviderConfig(
                        base_url=fake.base_url, api_key="sk-x", api="anthropic-messages"
                    )
                }
            ),
        )
        async with (
            open_gateway(config, port=0, env={}) as gateway,
            open_gateway_client(gateway.url, token=TOKEN) as client,
        ):

            async def echo_tool(arguments, run):
                return {"echoed": arguments["text"]}

            gateway.runtime.tools.register(
                "echo_tool",
                "Echo the text back.",
                {"type": "object", "properties": {"text": {"type": "string"}}},
                echo_tool,
            )
            with trio.fail_after(10):
                await _send(client, "use the tool", "a1", thinking="medium")
            run = gateway.runtime.agents.runs["a1"]
    first, second = (request.json() for request in fake.requests)
    assert run.status == "ok" and run.text == "done"  # the reasoning is not reply text
    for body in (first, second):
        assert (
            body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
            and body["max_tokens"] == 4096 + 8192
        )
    assistant = second["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "Let me call the tool.",
        "signature": "sig-abc",
    }
    assert assistant["content"][1]["type"] == "tool_use"

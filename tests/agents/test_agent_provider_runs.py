"""Agent runs through the production provider path against the fake OpenAI server: streaming, tool
calls through the registry, abort, provider errors surfaced to the caller."""

import trio

from moltbot.client import open_gateway_client
from moltbot.config.model import (
    AgentDefaults,
    AgentsConfig,
    AuthConfig,
    CommandsConfig,
    Config,
    GatewayConfig,
    ModelProviderConfig,
    ModelsConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.openai import ScriptedCall, error_reply, open_fake_openai, text_reply, tool_call_reply


def config_for(tmp_path, base_url):
    return Config(
        gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)),
        agents=AgentsConfig(defaults=AgentDefaults(model="local/fake-model")),
        models=ModelsConfig(providers={"local": ModelProviderConfig(base_url=base_url, api_key="sk-x",
                                                                    api="openai-completions")}),
        state_dir=tmp_path,
    )


async def test_streamed_reply_through_the_fake_provider(tmp_path):
    async with open_fake_openai(text_reply("Hel", "lo ", "there")) as fake:
        async with open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("agent", {"message": "hi", "idempotencyKey": "p1"})
                with trio.fail_after(10):
                    waited = await client.call("agent.wait", {"runId": "p1"})
                history = await client.call("chat.history", {"sessionKey": "main"})
    assert waited["status"] == "ok"
    assert history["messages"][-1]["content"][0]["text"] == "Hello there"
    body = fake.requests[0].json()
    assert body["model"] == "fake-model" and body["messages"][-1] == {"role": "user", "content": "hi"}


async def test_tool_calls_run_through_the_registry_and_loop_back(tmp_path):
    call = ScriptedCall(id="call_1", name="echo_tool", arguments={"text": "ping"})
    async with open_fake_openai(tool_call_reply(call), text_reply("done")) as fake:
        async with open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway:
            seen = []

            async def echo_tool(arguments, run):
                seen.append(arguments)
                return {"echoed": arguments["text"]}

            gateway.runtime.tools.register("echo_tool", "Echo the text back.",
                                           {"type": "object", "properties": {"text": {"type": "string"}}},
                                           echo_tool)
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("agent", {"message": "use the tool", "idempotencyKey": "t1"})
                with trio.fail_after(10):
                    assert (await client.call("agent.wait", {"runId": "t1"}))["status"] == "ok"
    assert seen == [{"text": "ping"}]
    second = fake.requests[1].json()["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": '{"echoed": "ping"}'}
    assert any(tool["function"]["name"] == "echo_tool" for tool in fake.requests[0].json()["tools"])


async def test_abort_cancels_a_hanging_run_and_reports_aborted(tmp_path):
    async with open_fake_openai(text_reply("partial ", then="hang")) as fake:
        async with open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                events = client.subscribe()
                assert (await client.call("chat.send", {"sessionKey": "main", "message": "go",
                                                        "idempotencyKey": "h1"}))["status"] == "started"
                with trio.fail_after(10):
                    while True:  # wait until the model has started answering
                        event = await events.receive()
                        if event.event == "agent" and event.payload["stream"] == "assistant":
                            break
                    aborted = await client.call("chat.abort", {"sessionKey": "main"})
                    while True:
                        event = await events.receive()
                        if event.event == "chat" and event.payload["state"] == "aborted":
                            break
                    waited = await client.call("agent.wait", {"runId": "h1"})
    assert aborted == {"ok": True, "aborted": True, "runIds": ["h1"]}
    assert event.payload["stopReason"] == "rpc"
    assert waited["status"] == "error"  # the reference reports aborted runs as not ok


async def test_provider_error_reaches_the_caller_with_its_message(tmp_path):
    async with open_fake_openai(error_reply(400, "model fake-model does not exist")) as fake:
        async with open_gateway(config_for(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                events = client.subscribe()
                await client.call("agent", {"message": "x", "idempotencyKey": "e1"})
                with trio.fail_after(10):
                    waited = await client.call("agent.wait", {"runId": "e1"})
                    while True:
                        event = await events.receive()
                        if event.event == "chat" and event.payload["state"] == "error":
                            break
    assert waited["status"] == "error" and "does not exist" in waited["error"]
    assert "does not exist" in event.payload["errorMessage"] and "sk-x" not in event.payload["errorMessage"]


async def test_missing_api_key_is_named(tmp_path):
    config = config_for(tmp_path, "http://127.0.0.1:9/v1")
    config = Config(gateway=config.gateway, agents=AgentsConfig(defaults=AgentDefaults(model="openai/gpt-4o")),
                    state_dir=tmp_path)
    async with open_gateway(config, port=0, env={}) as gateway:
        async with open_gateway_client(gateway.url, token=TOKEN) as client:
            await client.call("agent", {"message": "x", "idempotencyKey": "k1"})
            with trio.fail_after(10):
                waited = await client.call("agent.wait", {"runId": "k1"})
    assert waited["status"] == "error" and "OPENAI_API_KEY" in waited["error"]




async def test_gateway_tool_restart_writes_the_sentinel_and_restarts(tmp_path):
    call = ScriptedCall(id="call_r", name="gateway", arguments={"action": "restart", "delayMs": 0,
                                                                "note": "back soon"})
    async with open_fake_openai(tool_call_reply(call), text_reply("restarting")) as fake:
        config = config_for(tmp_path, fake.base_url)
        config = Config(gateway=config.gateway, agents=config.agents, models=config.models,
                        commands=CommandsConfig(restart=True), state_dir=tmp_path)
        async with open_gateway(config, port=0, env={}) as gateway:
            restarted = gateway.next_restart()
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("agent", {"message": "restart please", "idempotencyKey": "r1"})
                with trio.fail_after(10):
                    await restarted.wait()
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                events = (await client.call("status"))["queuedSystemEvents"]
    tool_result = fake.requests[1].json()["messages"][-1]
    assert '"signal": "SIGUSR1"' in tool_result["content"] and '"delayMs": 0' in tool_result["content"]
    assert any(e.startswith("GatewayRestart:") and "back soon" in e for e in events)


async def test_gateway_tool_refuses_restart_unless_allowed_and_redacts_config(tmp_path):
    calls = [ScriptedCall(id="c1", name="gateway", arguments={"action": "restart"}),
             ScriptedCall(id="c2", name="gateway", arguments={"action": "config.get"})]
    async with open_fake_openai(tool_call_reply(*calls), text_reply("ok")) as fake:
        config = config_for(tmp_path, fake.base_url)
        config = Config(gateway=config.gateway, agents=config.agents, models=config.models, state_dir=tmp_path,
                        raw={"gateway": {"auth": {"token": TOKEN}}})
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("agent", {"message": "x", "idempotencyKey": "g1"})
                with trio.fail_after(10):
                    assert (await client.call("agent.wait", {"runId": "g1"}))["status"] == "ok"
    results = [m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
    assert "Gateway restart is disabled. Set commands.restart=true" in results[0]
    assert TOKEN not in results[1] and '"token": "__MOLTBOT_REDACTED__"' in results[1]

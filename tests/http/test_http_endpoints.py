"""The HTTP surface on the gateway port: OpenAI chat completions (with the official client), OpenResponses,
/tools/invoke, webhooks, and the error shapes."""

import json

import attrs
import httpx
import openai
import pytest
import trio

from moltbot.agents.providers.echo import PREFIX
from moltbot.config.model import (
    AuthConfig,
    AuthRateLimit,
    GatewayToolsConfig,
    HooksConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import HTTP_APIS, TOKEN
from tests.fakes.openai import ScriptedCall, open_fake_openai, text_reply, tool_call_reply


@pytest.fixture
async def http_gateway(make_config):
    # The gateway tool is on the HTTP deny list by default (tests/hostile/test_http_tools.py); allowed here.
    config = attrs.evolve(make_config(http=HTTP_APIS, tools=GatewayToolsConfig(allow=["gateway"])), hooks=HooksConfig(
        enabled=True, token="hook-secret", mappings=[{"match": {"path": "github"}, "action": "wake",
                                                      "textTemplate": "push to {{payload.repo.name}} by {{pusher}}"}]))
    async with open_gateway(config, port=0, env={}) as gateway:
        yield gateway


def base(gateway):
    return gateway.urls[0]


async def in_thread(fn):
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(fn)


async def test_openai_client_non_streaming(http_gateway):
    client = openai.OpenAI(base_url=base(http_gateway) + "/v1", api_key=TOKEN)
    completion = await in_thread(lambda: client.chat.completions.create(
        model="moltbot", messages=[{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": "hello"}]))
    assert completion.choices[0].message.content == PREFIX + "hello"
    assert completion.choices[0].finish_reason == "stop" and completion.id.startswith("chatcmpl_")
    assert completion.usage.total_tokens > 0


async def test_openai_client_streaming_ends_with_stop_and_usage(http_gateway):
    client = openai.OpenAI(base_url=base(http_gateway) + "/v1", api_key=TOKEN)

    def stream():
        chunks = list(client.chat.completions.create(model="moltbot", stream=True,
                                                     messages=[{"role": "user", "content": "stream me"}]))
        return chunks

    chunks = await in_thread(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == PREFIX + "stream me"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens > 0


async def test_history_is_folded_with_the_reference_markers(http_gateway):
    async with httpx.AsyncClient(base_url=base(http_gateway)) as http:
        response = await http.post("/v1/chat/completions", headers={"authorization": f"Bearer {TOKEN}"}, json={
            "model": "moltbot:main", "user": "Alice",
            "messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "reply"},
                         {"role": "user", "content": [{"type": "text", "text": "second"}]}]})
    content = response.json()["choices"][0]["message"]["content"]
    assert content == PREFIX + ("[Chat messages since your last reply - for context]\nUser: first\nAssistant: reply"
                                "\n\n[Current message - respond to this]\nUser: second")
    async with httpx.AsyncClient(base_url=base(http_gateway)) as http:
        sessions = await http.post("/tools/invoke", headers={"authorization": f"Bearer {TOKEN}"},
                                   json={"tool": "gateway", "args": {"action": "config.get"}})
    assert sessions.status_code == 200


async def test_error_shapes(http_gateway, make_config):
    async with httpx.AsyncClient(base_url=base(http_gateway)) as http:
        auth = {"authorization": f"Bearer {TOKEN}"}
        no_auth = await http.post("/v1/chat/completions", json={"messages": []})
        assert (no_auth.status_code, no_auth.json()) == (401, {"error": {"message": "Unauthorized",
                                                                          "type": "unauthorized"}})
        bad_json = await http.post("/v1/chat/completions", headers=auth, content=b"{nope")
        assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
        no_user = await http.post("/v1/chat/completions", headers=auth, json={"messages": [
            {"role": "system", "content": "x"}]})
        assert no_user.json()["error"]["message"] == "Missing user message in `messages`."
        too_big = await http.post("/v1/chat/completions", headers=auth, content=b"x" * (1024 * 1024 + 10))
        assert too_big.status_code == 400 and "payload too large" in too_big.text
        wrong_method = await http.get("/v1/chat/completions", headers=auth)
        assert (wrong_method.status_code, wrong_method.headers.get("allow")) == (405, "POST")
        unknown = await http.get("/nope")
        assert (unknown.status_code, unknown.text) == (404, "Not Found")


async def test_disabled_endpoints_are_404(make_config):
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        async with httpx.AsyncClient(base_url=base(gateway)) as http:
            response = await http.post("/v1/chat/completions", headers={"authorization": f"Bearer {TOKEN}"},
                                       json={"messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 404


async def test_bad_bearer_tokens_are_rate_limited(make_config):
    config = make_config(http=HTTP_APIS, auth=AuthConfig(token=TOKEN, rate_limit=AuthRateLimit(max_failures=2, exempt_loopback=False)))
    async with open_gateway(config, port=0, env={}) as gateway:
        async with httpx.AsyncClient(base_url=base(gateway)) as http:
            for _ in range(2):
                assert (await http.post("/tools/invoke", headers={"authorization": "Bearer nope"},
                                        json={"tool": "x"})).status_code == 401
            locked = await http.post("/tools/invoke", headers={"authorization": f"Bearer {TOKEN}"},
                                     json={"tool": "gateway"})
    assert locked.status_code == 401 and int(locked.headers["retry-after"]) >= 1


async def test_client_disconnect_mid_stream_aborts_the_run(make_config):
    async with open_fake_openai(text_reply("slow ", then="hang")) as fake:
        from moltbot.config.model import (
            AgentDefaults,
            AgentsConfig,
            ModelProviderConfig,
            ModelsConfig,
        )
        config = make_config(http=HTTP_APIS)
        config = type(config)(gateway=config.gateway, state_dir=config.state_dir,
                              agents=AgentsConfig(defaults=AgentDefaults(model="local/m")),
                              models=ModelsConfig(providers={"local": ModelProviderConfig(
                                  base_url=fake.base_url, api_key="k", api="openai-completions")}))
        async with open_gateway(config, port=0, env={}) as gateway:
            async with httpx.AsyncClient(base_url=base(gateway), timeout=10) as http:
                async with http.stream("POST", "/v1/chat/completions", headers={"authorization": f"Bearer {TOKEN}"},
                                       json={"stream": True, "messages": [{"role": "user", "content": "go"}]}) as r:
                    async for line in r.aiter_lines():
                        if "slow" in line:
                            break  # leave mid-stream
            with trio.fail_after(10):
                run = next(iter(gateway.runtime.agents.runs.values()))
                await run.done.wait()
                await fake.requests[0].disconnected.wait()  # the provider call was cancelled too
    assert run.status == "aborted" and run.stop_reason == "disconnect"


async def test_responses_non_streaming_and_validation(http_gateway):
    async with httpx.AsyncClient(base_url=base(http_gateway)) as http:
        auth = {"authorization": f"Bearer {TOKEN}"}
        ok = await http.post("/v1/responses", headers=auth, json={"model": "moltbot", "input": "hi there"})
        assert ok.status_code == 200
        resource = ok.json()
        assert resource["status"] == "completed" and resource["object"] == "response"
        assert resource["output"][0]["content"][0]["text"] == PREFIX + "hi there"
        strict = await http.post("/v1/responses", headers=auth, json={"model": "m", "input": "x", "colour": 1})
        assert strict.status_code == 400 and "colour" in strict.json()["error"]["message"]
        nested = await http.post("/v1/responses", headers=auth, json={"model": "m", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "txt": "x"}]}]})
        assert nested.status_code == 400 and nested.json()["error"]["message"].startswith("input.0")


async def test_responses_streaming_event_order(http_gateway):
    async with httpx.AsyncClient(base_url=base(http_gateway), timeout=10) as http:
        async with http.stream("POST", "/v1/responses", headers={"authorization": f"Bearer {TOKEN}"},
                               json={"model": "moltbot", "input": "yo", "stream": True}) as response:
            lines = [line async for line in response.aiter_lines()]
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                          "response.content_part.added"]
    assert events[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                           "response.completed"]
    assert "response.output_text.delta" in events and [line for line in lines if line][-1] == "data: [DONE]"


async def test_responses_client_function_tools_end_incomplete(make_config):
    call = ScriptedCall(id="call_w", name="get_weather", arguments={"city": "Oslo"})
    async with open_fake_openai(tool_call_reply(call)) as fake:
        from moltbot.config.model import AgentDefaults, AgentsConfig, ModelProviderConfig, ModelsConfig
        config = make_config(http=HTTP_APIS)
        config = type(config)(gateway=config.gateway, state_dir=config.state_dir,
                              agents=AgentsConfig(defaults=AgentDefaults(model="local/m")),
                              models=ModelsConfig(providers={"local": ModelProviderConfig(
                                  base_url=fake.base_url, api_key="k", api="openai-completions")}))
        async with open_gateway(config, port=0, env={}) as gateway:
            async with httpx.AsyncClient(base_url=base(gateway), timeout=10) as http:
                response = await http.post("/v1/responses", headers={"authorization": f"Bearer {TOKEN}"}, json={
                    "model": "moltbot", "input": "weather?",
                    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                        "type": "object", "properties": {"city": {"type": "string"}}}}}]})
    body = response.json()
    assert body["status"] == "incomplete"
    assert body["output"][-1]["type"] == "function_call" and body["output"][-1]["name"] == "get_weather"
    assert json.loads(body["output"][-1]["arguments"]) == {"city": "Oslo"}


async def test_tools_invoke(http_gateway):
    async with httpx.AsyncClient(base_url=base(http_gateway)) as http:
        auth = {"authorization": f"Bearer {TOKEN}"}
        missing = await http.post("/tools/invoke", headers=auth, json={})
        assert missing.json() == {"error": {"message": "tools.invoke requires body.tool",
                                            "type": "invalid_request_error"}}
        unknown = await http.post("/tools/invoke", headers=auth, json={"tool": "nope"})
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
        refused = await http.post("/tools/invoke", headers=auth, json={"tool": "gateway", "action": "restart"})
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "tool_error"
        ok = await http.post("/tools/invoke", headers=auth, json={"tool": "gateway", "action": "config.get"})
        assert ok.json()["ok"] is True and "config" in ok.json()["result"]


async def test_hooks(http_gateway):
    async with httpx.AsyncClient(base_url=base(http_gateway)) as http:
        assert (await http.post("/hooks/wake", json={"text": "x"})).status_code == 401
        token = {"authorization": "Bearer hook-secret"}
        assert (await http.get("/hooks/wake", headers=token)).status_code == 405
        wake = await http.post("/hooks/wake", headers=token, json={"text": "deploy done"})
        assert wake.json() == {"ok": True, "mode": "now"}
        agent = await http.post("/hooks/agent", headers={"x-moltbot-token": "hook-secret"},
                                json={"message": "summarize", "name": "CI"})
        assert agent.status_code == 202 and agent.json()["ok"] is True
        mapped = await http.post("/hooks/github", headers=token, json={"repo": {"name": "molt"}, "pusher": "ann"})
        assert mapped.json()["ok"] is True
        assert (await http.post("/hooks/unmapped", headers=token, json={})).status_code == 404
        big = await http.post("/hooks/wake", headers=token, content=b"{" + b" " * 300_000 + b"}")
        assert big.status_code == 413 and big.json() == {"ok": False, "error": "payload too large"}
        with trio.fail_after(10):
            while not any(e.startswith("Hook CI:") for e in http_gateway.system_events):  # noqa: ASYNC110 (poll with a deadline)
                await trio.sleep(0.01)
    assert "deploy done" in http_gateway.system_events
    assert "push to molt by ann" in http_gateway.system_events


def test_streamed_content_chunks_are_the_bytes_of_the_full_encoding():
    from moltbot.agents.runtime import Run
    from moltbot.http import openai

    run = Run(run_id="chatcmpl_1", session_key="agent:main:x", agent_id="main", message="hi")
    for model in ("moltbot", 'we"ird\\model é', f"x{openai._MARK}y"):
        content = openai._content_chunker(run, model, 1700000000)
        for text in ("plain", "", 'quo"te\\ and \n newline', "é ✓ \u2028 \x00", openai._MARK):
            assert content(text) == openai._chunk(run, model, 1700000000, {"content": text})

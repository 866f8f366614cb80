"""``GET /v1/models`` and ``/v1/models/{id}`` (issue 19): the OpenAI shape with OpenClaw's ids and errors,
on when the chat endpoint is, behind the same auth; the official SDK's ``models.list()`` works."""

from __future__ import annotations

import attrs
import httpx
import openai
import pytest
import trio

from moltbot.config.model import AgentEntry, AgentsConfig, EndpointToggle, HttpConfig, HttpEndpoints
from moltbot.gateway.app import open_gateway
from tests.conftest import HTTP_APIS, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def model(model_id):
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "moltbot", "permission": []}


@pytest.fixture
async def chat_gateway(make_config):
    async with open_gateway(make_config(http=HTTP_APIS), port=0, env={}) as gateway:
        yield gateway


async def test_the_list_names_the_default_agent_and_each_agent(make_config):
    config = attrs.evolve(make_config(http=HTTP_APIS), agents=AgentsConfig(
        entries=[AgentEntry(id="main", default=True), AgentEntry(id="work")]))
    async with open_gateway(config, port=0, env={}) as gateway, httpx.AsyncClient(base_url=gateway.urls[0]) as http:
        answer = await http.get("/v1/models", headers=AUTH)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json() == {"object": "list", "data": [model("moltbot"), model("moltbot/main"), model("moltbot/work")]}


async def test_the_openai_sdk_lists_and_retrieves(chat_gateway):
    client = openai.OpenAI(base_url=chat_gateway.urls[0] + "/v1", api_key=TOKEN)

    def use_sdk():
        return [entry.id for entry in client.models.list()], client.models.retrieve("moltbot/main").id

    with trio.fail_after(20):
        ids, retrieved = await trio.to_thread.run_sync(use_sdk)
    assert (ids, retrieved) == (["moltbot", "moltbot/main"], "moltbot/main")


@pytest.mark.parametrize(("target", "status", "message"), [
    ("/v1/models/moltbot", 200, None),
    ("/v1/models/moltbot%2Fmain", 200, None),
    ("/v1/models/moltbot/nosuch", 404, "Model 'moltbot/nosuch' not found."),
    ("/v1/models/gpt-4o", 400, "Invalid model id."),
    ("/v1/models/a/b/c", 400, "Invalid model id."),
    ("/v1/models/", 400, "Missing model id."),
])
async def test_one_model_and_openclaws_errors(chat_gateway, target, status, message):
    async with httpx.AsyncClient(base_url=chat_gateway.urls[0]) as http:
        answer = await http.get(target, headers=AUTH)
    assert answer.status_code == status
    if message is None:
        assert answer.json()["object"] == "model"
    else:
        assert answer.json() == {"error": {"message": message, "type": "invalid_request_error"}}


async def test_auth_and_method_as_the_other_v1_endpoints(chat_gateway):
    async with httpx.AsyncClient(base_url=chat_gateway.urls[0]) as http:
        no_token = await http.get("/v1/models")
        wrong = await http.get("/v1/models/moltbot", headers={"Authorization": "Bearer nope"})
        post = await http.post("/v1/models", headers=AUTH)
    assert (no_token.status_code, no_token.json()["error"]["type"]) == (401, "unauthorized")
    assert wrong.status_code == 401
    assert (post.status_code, post.headers["allow"]) == (405, "GET")


async def test_off_with_the_chat_endpoint_naming_its_key(make_config):
    off = HttpConfig(endpoints=HttpEndpoints(chat_completions=EndpointToggle(enabled=False)))
    async with open_gateway(make_config(http=off), port=0, env={}) as gateway, \
            httpx.AsyncClient(base_url=gateway.urls[0]) as http:
        answers = [await http.get(path, headers=AUTH) for path in ("/v1/models", "/v1/models/moltbot")]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == {"error": {"type": "not_found", "message": "/v1/models is disabled: set "
                                           "gateway.http.endpoints.chatCompletions.enabled to true"}}

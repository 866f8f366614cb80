"""Unknown and disabled paths (issue 19): JSON 404s under the API prefixes, a disabled endpoint's 404 naming
its config key (no longer a 405), and the dashboard page only for the dashboard's own paths."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import httpx
import pytest

from moltbot.config.model import ControlUiConfig, HooksConfig
from moltbot.gateway.app import open_gateway
from moltbot.http.control_ui import STATIC_ROOT, VIEWS
from tests.conftest import HTTP_APIS, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT_OFF = "/v1/chat/completions is disabled: set gateway.http.endpoints.chatCompletions.enabled to true"
RESPONSES_OFF = "/v1/responses is disabled: set gateway.http.endpoints.responses.enabled to true"
HOOKS_OFF = "webhooks is disabled: set hooks.enabled to true and hooks.token (served under /hooks)"


async def _serve(config, fn):
    async with open_gateway(config, port=0, env={}) as gateway:
        async with httpx.AsyncClient(base_url=gateway.urls[0]) as http:
            return await fn(http)


@pytest.fixture
def with_ui(make_config):
    return lambda **gateway: make_config(control_ui=ControlUiConfig(enabled=True), **gateway)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("path", "message"), [("/v1/chat/completions", CHAT_OFF),
                                               ("/v1/responses", RESPONSES_OFF),
                                               ("/hooks/wake", HOOKS_OFF), ("/hooks", HOOKS_OFF)])
async def test_a_disabled_endpoint_is_404_naming_its_key(with_ui, method, path, message):
    answer = await _serve(with_ui(), lambda http: http.request(method, path, headers=AUTH, json={}))
    assert (answer.status_code, answer.json()) == (404, {"error": {"message": message, "type": "not_found"}})


@pytest.mark.parametrize("path", ["/v1", "/v1/", "/v1/embeddings", "/v1/chat", "/tools", "/tools/nope",
                                  "/api", "/api/channels/x", "/v1/chat/completions/x"])
async def test_unknown_api_paths_are_json_404s_not_the_dashboard(with_ui, path):
    answer = await _serve(with_ui(http=HTTP_APIS), lambda http: http.get(path, headers=AUTH))
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json() == {"error": {"message": f"Not Found: no endpoint at GET {path}", "type": "not_found"}}


async def test_a_long_unknown_path_is_cut_in_the_message(with_ui):
    answer = await _serve(with_ui(), lambda http: http.get("/api/" + "x" * 5000))
    assert answer.status_code == 404 and len(answer.json()["error"]["message"]) < 200


async def test_hooks_on_another_path_leave_hooks_an_unknown_api_path(with_ui):
    config = attrs.evolve(with_ui(), hooks=HooksConfig(enabled=True, token="hook-secret", path="/webhooks"))
    answer = await _serve(config, lambda http: http.post("/hooks/wake", json={}))
    assert (answer.status_code, answer.json()["error"]["type"]) == (404, "not_found")


async def test_enabled_endpoints_keep_their_405_for_a_wrong_method(make_config):
    async def fetch(http):
        return [await http.get(path, headers=AUTH) for path in ("/v1/chat/completions", "/v1/responses")]

    for answer in await _serve(make_config(http=HTTP_APIS), fetch):
        assert (answer.status_code, answer.headers["allow"]) == (405, "POST")


async def test_the_dashboard_answers_its_views_and_files(with_ui):
    async def fetch(http):
        return [await http.get(path) for path in ("/", "/index.html", "/chat", "/chat/", "/logs/deep/link",
                                                  "/config", "/app.js")]

    for answer in await _serve(with_ui(), fetch):
        assert answer.status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/no-such.js", "/wp-login.php", "/healthz/x", "/chatx", "/x/chat"])
async def test_other_paths_are_404_not_the_dashboard(with_ui, path):
    async def fetch(http):
        return await http.get(path), await http.post(path)

    for answer in await _serve(with_ui(), fetch):
        assert (answer.status_code, answer.text) == (404, "Not Found")


async def test_with_a_base_path_only_views_below_it_are_the_dashboard(make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=True, base_path="/console"))

    async def fetch(http):
        return [await http.get(path) for path in ("/console/cron", "/console/", "/console/nope", "/cron")]

    cron, root, nope, outside = await _serve(config, fetch)
    assert (cron.status_code, root.status_code) == (200, 200) and "__CLAWDBOT_CONTROL_UI_BASE_PATH__" in cron.text
    assert (nope.status_code, outside.status_code) == (404, 404)


async def test_a_wrong_method_on_a_dashboard_path_is_still_405(with_ui):
    answer = await _serve(with_ui(), lambda http: http.post("/chat"))
    assert (answer.status_code, answer.text) == (405, "Method Not Allowed")


def test_the_view_list_matches_the_pages_router():
    source = (Path(STATIC_ROOT) / "views.js").read_text()
    exported = re.search(r"export const views = \{([^}]*)\}", source).group(1)
    assert tuple(name.strip() for name in exported.split(",")) == VIEWS

"""The methods today's OpenClaw Control UI (2026.9.6) calls at start, over real sockets at protocol 4.

Params are the ones the UI sends (recorded from it in headless Chromium); where OpenClaw's schema
defines the params or the result, both are validated against it (the oracle).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import trio

from tests.conftest import TOKEN, open_raw

KEY = "agent:main:main"
# method → the params the Control UI sent (docs/openclaw-compat.md), and the schema's definitions.
UI_CALLS = {
    "sessions.subscribe": ({}, None, None),
    "sessions.messages.subscribe": ({"key": KEY, "includeApprovals": True}, "SessionsMessagesSubscribeParams", None),
    "sessions.describe": ({"key": KEY}, "SessionsDescribeParams", None),
    "chat.startup": ({"sessionKey": KEY, "limit": 80, "maxBytes": 262144}, None, None),
    "chat.metadata": ({"agentId": "main", "sessionKey": KEY}, "ChatMetadataParams", None),
    "models.authStatus": ({"agentId": "main"}, "ModelsAuthStatusParams", None),
    "system.info": ({}, "SystemInfoParams", "SystemInfoResult"),
    "sessions.observer.visibility": ({"visible": True}, "SessionsObserverVisibilityParams",
                                     "SessionsObserverVisibilityResult"),
    "sessions.viewers.set": ({"sessionKeys": [KEY]}, "SessionsViewerPresenceSetParams",
                             "SessionsViewerPresenceSetResult"),
    "update.status": ({}, "UpdateStatusParams", "UpdateStatusResult"),
    "plugins.controlUi.list": ({}, None, None),
    "projects.list": ({}, "ProjectsListParams", "ProjectsListResult"),
    "question.list": ({}, "QuestionListParams", "QuestionListResult"),
    "exec.approval.list": ({}, None, None),
    "plugin.approval.list": ({}, None, None),
    "openclaw.approval.list": ({}, None, None),
    "talk.catalog": ({}, "TalkCatalogParams", "TalkCatalogResult"),
    "progressCard.get": ({"sessionKey": KEY}, "ProgressCardGetParams", "ProgressCardGetResult"),
    "taskSuggestions.list": ({"sessionKey": KEY, "agentId": "main"}, "TaskSuggestionsListParams",
                             "TaskSuggestionsListResult"),
    "tasks.list": ({"sessionKey": KEY, "agentId": "main", "status": ["queued", "running"], "limit": 200},
                   "TasksListParams", "TasksListResult"),
    "sessions.branches.list": ({"sessionKey": KEY}, "SessionsBranchesListParams", "SessionsBranchesListResult"),
    "session.discussion.info": ({"sessionKey": KEY}, "SessionDiscussionInfoParams", "SessionDiscussionInfoResult"),
    "sessions.companion.state": ({"sessionKey": KEY, "agentId": "main"}, "SessionsCompanionStateParams",
                                 "SessionsCompanionStateResult"),
    "users.prefs.get": ({"keys": ["ui.theme"]}, None, None),
    "sessions.groups.list": ({}, "SessionsGroupsListParams", "SessionsGroupsListResult"),
    "sessions.groups.defaults": ({}, "SessionsGroupsDefaultsParams", "SessionsGroupsDefaultsResult"),
    "sessions.catalog.list": ({}, "SessionsCatalogListParams", "SessionsCatalogListResult"),
}
# A device-less CLI client at protocol 4 (a Control UI id would need a signed device identity: the real UI
# itself is driven in test_ui_openclaw_build.py); the methods answer the same whoever calls them.
UI_CONNECT = {"minProtocol": 4, "maxProtocol": 4,
              "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "mode": "cli"},
              "role": "operator", "scopes": ["operator.admin", "operator.read", "operator.write",
                                             "operator.approvals", "operator.pairing"]}


def _check(schema: dict, name: str | None, value: object) -> None:
    if name is not None:
        # No meta-schema check per call: the schema is OpenClaw's (410 methods) and checked once upstream.
        validator = jsonschema.validators.validator_for(schema)
        validator({**schema, "$ref": f"#/definitions/{name}"}).validate(value)


def ui_client(gateway):
    return open_raw(gateway.url, handshake=True, **UI_CONNECT)


async def test_every_start_method_answers_at_protocol_4_as_the_schema_says(gateway, openclaw_schema):
    with trio.fail_after(20):
        async with ui_client(gateway) as ui:
            for number, (method, (params, params_def, result_def)) in enumerate(UI_CALLS.items()):
                _check(openclaw_schema, params_def, params)  # the UI's params are the schema's
                answer = await ui.call(method, params, request_id=f"m{number}")
                assert answer["ok"], (method, answer)
                _check(openclaw_schema, result_def, answer["payload"])


async def test_the_new_methods_are_advertised_in_hello_ok(gateway):
    with trio.fail_after(10):
        async with open_raw(gateway.url) as ui:
            await ui.send(json.dumps({"type": "req", "id": "c1", "method": "connect",
                                      "params": {**UI_CONNECT, "auth": {"token": TOKEN}}}))
            hello = await ui.response("c1")
    methods = hello["payload"]["features"]["methods"]
    assert set(UI_CALLS) <= set(methods)


async def test_none_here_answers_are_empty(gateway):
    with trio.fail_after(10):
        async with ui_client(gateway) as ui:
            answers = {m: (await ui.call(m, UI_CALLS[m][0], request_id=m))["payload"]
                       for m in ("exec.approval.list", "question.list", "tasks.list", "talk.catalog",
                                 "sessions.branches.list", "progressCard.get", "update.status")}
    assert answers["exec.approval.list"] == [] and answers["question.list"] == {"questions": []}
    assert answers["tasks.list"] == {"tasks": []} and answers["sessions.branches.list"] == {"branches": []}
    assert answers["talk.catalog"]["speech"] == {"providers": []} and answers["progressCard.get"] == {"card": None}
    assert answers["update.status"] == {"sentinel": None, "updateAvailable": None}


async def test_a_session_never_used_is_described_as_none_and_starts_empty(gateway):
    with trio.fail_after(10):
        async with ui_client(gateway) as ui:
            described = await ui.call("sessions.describe", {"key": KEY}, request_id="d")
            startup = await ui.call("chat.startup", {"sessionKey": KEY, "limit": 80}, request_id="s")
    assert described["payload"] == {"session": None}
    assert startup["payload"]["messages"] == [] and startup["payload"]["totalMessages"] == 0


async def test_chat_startup_and_describe_read_the_transcript_after_a_chat(gateway):
    with trio.fail_after(30):
        async with ui_client(gateway) as ui:
            sent = await ui.call("chat.send", {"sessionKey": KEY, "message": "hi there", "idempotencyKey": "k1"},
                                 request_id="send")
            assert sent["ok"], sent
            while True:
                event = await ui.event("chat")
                if event["payload"]["state"] == "final":
                    break
            startup = (await ui.call("chat.startup", {"sessionKey": KEY, "limit": 80}, request_id="s"))["payload"]
            limited = (await ui.call("chat.startup", {"sessionKey": KEY, "limit": 1}, request_id="l"))["payload"]
            described = (await ui.call("sessions.describe", {"key": KEY, "includeLastMessage": True},
                                       request_id="d"))["payload"]
    roles = [message["role"] for message in startup["messages"]]
    assert roles == ["user", "assistant"] and startup["totalMessages"] == 2 and startup["hasMore"] is False
    assert startup["sessionInfo"]["key"] == KEY and startup["sessionInfo"]["isMain"] is True
    assert len(limited["messages"]) == 1 and limited["hasMore"] is True
    assert described["session"]["key"] == KEY and "hi there" in described["session"]["lastMessagePreview"]


async def test_models_auth_status_reports_the_providers_runs_can_use(gateway):
    with trio.fail_after(10):
        async with ui_client(gateway) as ui:
            status = (await ui.call("models.authStatus", {"agentId": "main"}))["payload"]
            agents = (await ui.call("agents.list", {}, request_id="a"))["payload"]
    echo = next(p for p in status["providers"] if p["provider"] == "echo")
    assert echo["status"] == "ok" and echo["profiles"] == []
    assert agents["agents"][0]["model"] == {"primary": "echo/echo"}  # the UI asks for a model setup otherwise


@pytest.mark.parametrize(("method", "params", "wrong"), [
    ("sessions.observer.visibility", {}, "visible"),
    ("sessions.describe", {"key": ""}, "key"),
    ("tasks.list", {"status": ["sleeping"]}, "status"),
    ("progressCard.get", {"sessionKey": KEY, "extra": 1}, "extra"),
])
async def test_bad_params_are_refused_naming_the_field(gateway, method, params, wrong):
    with trio.fail_after(10):
        async with ui_client(gateway) as ui:
            answer = await ui.call(method, params)
    assert answer["ok"] is False and answer["error"]["code"] == "INVALID_REQUEST"
    assert wrong in answer["error"]["message"] and "Traceback" not in answer["error"]["message"]


@pytest.mark.parametrize(("method", "params", "field"), [
    ("sessions.describe", {"key": "agent:main:\u0007"}, "key"),
    ("chat.startup", {"sessionKey": "agent:main:main", "agentId": "../x"}, "agentId"),
    ("sessions.viewers.set", {"sessionKeys": ["agent:main:" + "k" * 5000]}, "sessionKeys"),
])
async def test_bad_ids_are_refused_by_the_id_rules_before_any_store_is_read(gateway, method, params, field):
    with trio.fail_after(10):
        async with ui_client(gateway) as ui:
            answer = await ui.call(method, params)
    assert answer["ok"] is False and answer["error"]["code"] == "INVALID_REQUEST"
    assert answer["error"]["message"].startswith(f"invalid {method} params: {field} must")


async def test_plugin_surface_refresh_without_a_canvas_host_is_refused(gateway):
    with trio.fail_after(10):
        async with ui_client(gateway) as ui:
            answer = await ui.call("plugin.surface.refresh", {"surface": "canvas"})
    assert answer["error"]["message"] == "unknown plugin surface: canvas"

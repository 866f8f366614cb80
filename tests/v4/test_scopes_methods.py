"""Method authorization over a real socket: protocol 4's errors, 3 and 7 unchanged, dynamic scopes.

Authorization runs before params are validated, so a call with params that then fail validation (an
``agent`` without ``idempotencyKey``) shows the scope decision without running anything.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import jsonschema
import pytest
import trio

from tests.conftest import open_raw
from tests.v4.handshake_support import open_device_node

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}
NODE = {"id": "node-host", "version": "1", "platform": "linux", "mode": "node"}


@asynccontextmanager
async def session(gateway, protocol: int, scopes: list[str] | None, *, client: dict[str, Any] = CLI,
                  role: str | None = None):
    """A connection (``cli``/``cli`` on loopback: it keeps its scopes at every version) at ``protocol``."""
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=True, minProtocol=protocol, maxProtocol=protocol,
                            client=client, scopes=scopes, role=role) as ws:
            yield ws


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["ok"] is False, response
    return response["error"]


def assert_forbidden(error: dict[str, Any], schema: dict[str, Any], missing: str, required: list[str]) -> None:
    definitions = schema["definitions"]
    jsonschema.Draft7Validator(definitions["ErrorShape"]).validate(error)
    jsonschema.Draft7Validator(definitions["MissingScopeErrorDetails"]).validate(error["details"])
    assert error == {"code": "FORBIDDEN", "message": f"missing scope: {missing}",
                     "details": {"code": "MISSING_SCOPE", "missingScope": missing, "requiredScopes": required}}


def not_a_scope_error(response: dict[str, Any]) -> bool:
    message = (response.get("error") or {}).get("message", "")
    return not message.startswith(("missing scope", "unauthorized role"))


async def test_protocol_4_missing_scope_is_forbidden_with_details(gateway, openclaw_schema):
    async with session(gateway, 4, ["operator.read"]) as ws:
        denied = await ws.call("config.set", {"raw": "{}"})
        unknown = await ws.call("no.such.method", {}, request_id="r2")
    assert_forbidden(error_of(denied), openclaw_schema, "operator.admin", ["operator.admin"])
    assert_forbidden(error_of(unknown), openclaw_schema, "operator.admin", ["operator.admin"])


@pytest.mark.parametrize("protocol", [3, 7])
async def test_protocols_3_and_7_keep_invalid_request_missing_scope(gateway, protocol):
    async with session(gateway, protocol, ["operator.read"]) as ws:
        error = error_of(await ws.call("config.set", {"raw": "{}"}))
    assert (error["code"], error["message"]) == ("INVALID_REQUEST", "missing scope: operator.admin")
    assert error["details"]["missingScope"] == "operator.admin"  # additive: the same details as 4


@pytest.mark.parametrize("protocol", [3, 4, 7])
async def test_config_get_is_a_read_at_every_version(gateway, protocol):
    async with session(gateway, protocol, ["operator.read"]) as ws:
        assert (await ws.call("config.get", {}))["ok"]
        assert (await ws.call("config.schema", {}, request_id="r2"))["ok"]


async def test_an_admin_calling_an_unknown_method_is_told_so(gateway):
    async with session(gateway, 4, ["operator.admin"]) as ws:
        error = error_of(await ws.call("no.such.method", {}))
    assert (error["code"], error["message"]) == ("INVALID_REQUEST", "unknown method: no.such.method")


async def test_agent_reset_commands_need_admin(gateway, openclaw_schema):
    async with session(gateway, 4, ["operator.write"]) as ws:
        reset = await ws.call("agent", {"message": "/reset"})
        plain = await ws.call("agent", {"message": "hello"}, request_id="r2")
    assert_forbidden(error_of(reset), openclaw_schema, "operator.admin", ["operator.admin"])
    assert error_of(plain)["message"].startswith("invalid agent params")


async def test_node_invoke_of_admin_only_commands_needs_admin(gateway, openclaw_schema):
    async with session(gateway, 4, ["operator.write"]) as ws:
        proxy = await ws.call("node.invoke", {"nodeId": "n1", "command": "browser.proxy"})
        run = await ws.call("node.invoke", {"nodeId": "n1", "command": "system.run"}, request_id="r2")
    assert_forbidden(error_of(proxy), openclaw_schema, "operator.admin", ["operator.admin"])
    assert not_a_scope_error(run)


async def test_sessions_patch_and_delete_decide_from_their_keys(gateway, openclaw_schema):
    async with session(gateway, 4, ["operator.write"]) as ws:
        label = await ws.call("sessions.patch", {"key": "main", "label": "x"})
        policy = await ws.call("sessions.patch", {"key": "main", "sendPolicy": "allow"}, request_id="r2")
        delete = await ws.call("sessions.delete", {"key": "agent:main:gone"}, request_id="r3")
        archived = await ws.call("sessions.delete", {"key": "agent:main:gone", "archivedOnly": True},
                                 request_id="r4")
    assert not_a_scope_error(label)
    assert_forbidden(error_of(policy), openclaw_schema, "operator.admin", ["operator.admin"])
    assert_forbidden(error_of(delete), openclaw_schema, "operator.admin", ["operator.admin"])
    assert not_a_scope_error(archived)


async def test_write_implies_talk_but_not_questions(gateway, openclaw_schema):
    async with session(gateway, 4, ["operator.write"]) as ws:
        talk = await ws.call("talk.mode", {"enabled": False})
        question = await ws.call("question.list", {}, request_id="r2")
    assert not_a_scope_error(talk)
    assert_forbidden(error_of(question), openclaw_schema, "operator.questions", ["operator.questions"])


async def test_wrong_role_is_unauthorized_at_4(gateway):
    async with session(gateway, 4, ["operator.admin"]) as ws:
        operator = error_of(await ws.call("node.event", {"event": "x"}))
    async with open_device_node(gateway.url) as ws:  # a node needs a device identity at 4
        node = error_of(await ws.call("status", {}))
        health = await ws.call("health", request_id="r2")
    assert (operator["code"], operator["message"]) == ("INVALID_REQUEST", "unauthorized role: operator")
    assert (node["code"], node["message"]) == ("INVALID_REQUEST", "unauthorized role: node")
    assert health["ok"]  # as OpenClaw: health is open to every authenticated connection at 4


async def test_health_stays_operator_only_at_7(gateway):
    async with session(gateway, 7, None, client=NODE, role="node") as ws:
        assert error_of(await ws.call("health"))["message"] == "unauthorized role: node"

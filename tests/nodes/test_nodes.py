"""Nodes end to end over loopback: pairing by an operator, reconnecting with the device token, invokes
(round trip, timeout, late result, disconnect, policy), node pairing, listing and presence."""

from __future__ import annotations

import json
from functools import partial

import pytest
import trio

from moltbot.client import open_gateway_client
from moltbot.config.model import NodesConfig
from moltbot.devices.identity import DeviceAuthStore
from moltbot.gateway.app import open_gateway
from moltbot.nodes.host import NodeHost
from moltbot.protocol import RemoteProtocolError
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import TOKEN
from tests.nodes.helpers import OPERATOR_SCOPES, REMOTE, next_event, wait_until


def _invoke(node_id: str, command: str, params=None, **extra):
    body = {"nodeId": node_id, "command": command, "idempotencyKey": "k-" + command, **extra}
    if params is not None:
        body["params"] = params
    return body


async def test_node_pairs_reconnects_with_its_device_token_and_answers_invokes(gateway, client, tmp_path):
    identity = DeviceKeyPair.generate()
    store = DeviceAuthStore(tmp_path / "node" / "device-auth.json")
    first = NodeHost(gateway.url, identity, token=TOKEN, auth_store=store, display_name="kitchen",
                     retry_min=0.05, retry_max=0.2, extra_headers=REMOTE)
    with trio.fail_after(15):
        async with client(scopes=OPERATOR_SCOPES) as operator:
            events = operator.subscribe()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first.serve)
                requested = await next_event(events, "device.pair.requested")
                assert requested.payload["role"] == "node" and requested.payload["displayName"] == "kitchen"
                await operator.call("device.pair.approve", {"requestId": requested.payload["requestId"]})
                await first.connected.wait()
                assert first.hello.auth.device_token == store.load(identity.device_id, "node")
                nursery.cancel_scope.cancel()
            # No shared token this time: the stored device token alone gets the node in.
            second = NodeHost(gateway.url, identity, token=None, auth_store=store, retry_min=0.05,
                              extra_headers=REMOTE)
            async with trio.open_nursery() as nursery:
                hello = await nursery.start(second.serve)
                assert hello.auth.device_token == first.hello.auth.device_token
                listed = await operator.call("node.list")
                node = listed["nodes"][0]
                assert (node["nodeId"], node["connected"], node["paired"]) == (identity.device_id, True, True)
                assert node["commands"] == ["system.notify", "system.which"]
                which = await operator.call("node.invoke", _invoke(identity.device_id, "system.which",
                                                                   {"bins": ["sh", "no-such-binary-xyz"]}))
                notified = await operator.call("node.invoke", _invoke(identity.device_id, "system.notify",
                                                                      {"title": "hi", "body": "there"}))
                refused = await _error(operator.call("node.invoke", _invoke(identity.device_id, "system.which",
                                                                            {"bins": "sh"})))
                nursery.cancel_scope.cancel()
    assert which["ok"] and set(which["payload"]["bins"]) == {"sh"}
    assert json.loads(which["payloadJSON"]) == which["payload"]
    assert notified["payload"] == {"ok": True} and second.notifications == [{"title": "hi", "body": "there"}]
    assert refused.code == "UNAVAILABLE" and refused.details["nodeError"]["code"] == "INVALID_REQUEST"


async def _error(awaitable) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        await awaitable
    return info.value


class _SilentNode:
    """A node (client library, role node) that receives invoke requests and answers only when told."""

    def __init__(self, client) -> None:
        self.client = client
        self.requests = client.subscribe()

    async def next_request(self) -> dict:
        return (await next_event(self.requests, "node.invoke.request")).payload


async def _open_node(url: str, key: DeviceKeyPair, commands: list[str], **kwargs):
    return open_gateway_client(url, token=TOKEN, device=key, role="node", client_id="node-host", mode="node",
                               commands=commands, **kwargs)


async def test_invoke_times_out_and_a_late_result_is_ignored(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with await _open_node(gateway.url, key, ["system.which"]) as node_client, client() as operator:
            node = _SilentNode(node_client)
            async with trio.open_nursery() as nursery:
                errors = []

                async def invoke():
                    errors.append(await _error(operator.call("node.invoke", _invoke(
                        key.device_id, "system.which", {"bins": ["sh"]}, timeoutMs=300))))

                nursery.start_soon(invoke)
                request = await node.next_request()
            late = await node_client.call("node.invoke.result", {"id": request["id"], "nodeId": key.device_id,
                                                                  "ok": True, "payloadJSON": None, "error": None})
            mismatch = await _error(node_client.call("node.invoke.result", {"id": request["id"], "nodeId": "other",
                                                                            "ok": True}))
    assert request["paramsJSON"] == '{"bins":["sh"]}' and request["timeoutMs"] == 300
    assert request["idempotencyKey"] == "k-system.which"
    error = errors[0]
    assert (error.code, error.message) == ("UNAVAILABLE", "node invoke timed out")
    assert error.details == {"nodeError": {"code": "TIMEOUT", "message": "node invoke timed out"}}
    assert late == {"ok": True, "ignored": True} and mismatch.message == "nodeId mismatch"


async def test_node_disconnect_fails_pending_invokes(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with client() as operator, trio.open_nursery() as nursery:
            errors = []
            async with await _open_node(gateway.url, key, ["system.which"]) as node_client:
                node = _SilentNode(node_client)

                async def invoke():
                    errors.append(await _error(operator.call("node.invoke", _invoke(key.device_id, "system.which"))))

                nursery.start_soon(invoke)
                request = await node.next_request()
    assert request["paramsJSON"] is None
    assert errors[0].message == "node disconnected (system.which)"
    assert errors[0].details["nodeError"]["code"] == "UNAVAILABLE"


async def test_command_policy_and_not_connected(make_config, tmp_path):
    config = make_config(nodes=NodesConfig(allow_commands=["custom.ping"], deny_commands=["system.notify"]))
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            commands = ["system.which", "system.notify", "custom.ping", "camera.snap"]
            async with await _open_node(gateway.url, key, commands) as node_client, \
                    open_gateway_client(gateway.url, token=TOKEN) as operator:
                node = _SilentNode(node_client)
                described = await operator.call("node.describe", {"nodeId": key.device_id})
                denied = await _error(operator.call("node.invoke", _invoke(key.device_id, "system.notify")))
                camera = await _error(operator.call("node.invoke", _invoke(key.device_id, "camera.snap")))
                undeclared = await _error(operator.call("node.invoke", _invoke(key.device_id, "system.run")))
                async with trio.open_nursery() as nursery:
                    async def answer():
                        request = await node.next_request()
                        await node_client.call("node.invoke.result", {
                            "id": request["id"], "nodeId": key.device_id, "ok": True, "payload": {"pong": 1}})

                    nursery.start_soon(answer)
                    pong = await operator.call("node.invoke", _invoke(key.device_id, "custom.ping"))
                offline = await _error(operator.call("node.invoke", _invoke("nope", "system.which")))
                unknown = await _error(operator.call("node.describe", {"nodeId": "nope"}))
    assert described["commands"] == ["system.which", "custom.ping"] and described["connected"] is True
    for error, reason, command in ((denied, "command not allowlisted", "system.notify"),
                                   (camera, "command not allowlisted", "camera.snap"),
                                   (undeclared, "command not declared by node", "system.run")):
        assert (error.code, error.message) == ("INVALID_REQUEST", "node command not allowed")
        assert error.details == {"reason": reason, "command": command}
    assert pong == {"ok": True, "nodeId": key.device_id, "command": "custom.ping", "payload": {"pong": 1},
                    "payloadJSON": None}
    assert (offline.code, offline.message, offline.details) == ("UNAVAILABLE", "node not connected",
                                                                {"code": "NOT_CONNECTED"})
    assert unknown.message == "unknown nodeId"


async def test_node_methods_need_the_node_role(client):
    async with client() as operator:
        error = await _error(operator.call("node.invoke.result", {"id": "x", "nodeId": "y", "ok": True}))
    assert error.message == "unauthorized role: operator"


async def test_node_pairing_store(gateway, client, tmp_path):
    with trio.fail_after(10):
        async with client(scopes=OPERATOR_SCOPES) as operator, client(role="node") as node:
            events, node_events = operator.subscribe(), node.subscribe()
            created = await operator.call("node.pair.request", {"nodeId": "n1", "displayName": "Lamp",
                                                                "commands": ["system.which"]})
            again = await operator.call("node.pair.request", {"nodeId": "n1"})
            requested = await next_event(events, "node.pair.requested")
            approved = await operator.call("node.pair.approve", {"requestId": created["request"]["requestId"]})
            resolved = await next_event(events, "node.pair.resolved")
            verify_ok = await operator.call("node.pair.verify", {"nodeId": "n1", "token": approved["node"]["token"]})
            verify_bad = await operator.call("node.pair.verify", {"nodeId": "n1", "token": "x" * 32})
            renamed = await operator.call("node.rename", {"nodeId": "n1", "displayName": "Desk lamp"})
            second = await operator.call("node.pair.request", {"nodeId": "n2"})
            rejected = await operator.call("node.pair.reject", {"requestId": second["request"]["requestId"]})
            listed = await operator.call("node.pair.list")
            unknown = await _error(operator.call("node.pair.approve", {"requestId": "nope"}))
            unknown_rename = await _error(operator.call("node.rename", {"nodeId": "nope", "displayName": "x"}))
            await operator.call("health")
            node_saw = []
            while True:
                try:
                    node_saw.append(node_events.receive_nowait().event)
                except trio.WouldBlock:
                    break
    assert created["status"] == "pending" and created["created"] is True and again["created"] is False
    assert requested.payload["nodeId"] == "n1" and requested.payload["isRepair"] is False
    assert resolved.payload["decision"] == "approved" and len(approved["node"]["token"]) == 32
    assert verify_ok["ok"] is True and verify_ok["node"]["nodeId"] == "n1" and verify_bad == {"ok": False}
    assert renamed == {"nodeId": "n1", "displayName": "Desk lamp"}
    assert rejected == {"requestId": second["request"]["requestId"], "nodeId": "n2"}
    assert listed["pending"] == [] and [n["displayName"] for n in listed["paired"]] == ["Desk lamp"]
    assert unknown.message == "unknown requestId" and unknown_rename.message == "unknown nodeId"
    assert not any(name.startswith("node.pair") for name in node_saw)  # nodes never get pairing events
    assert json.loads((tmp_path / "nodes" / "paired.json").read_text())["n1"]["displayName"] == "Desk lamp"


async def test_presence_shows_one_row_per_device(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with client() as operator:
            async with await _open_node(gateway.url, key, []), \
                    open_gateway_client(gateway.url, token=TOKEN, device=key, client_id="test", mode="test"):
                both = await operator.call("system-presence")
                async with await _open_node(gateway.url, DeviceKeyPair.generate(), []):
                    pass
            await wait_until(lambda: True)
            after = await operator.call("system-presence")
    assert sum(1 for e in both if e.get("deviceId") == key.device_id) == 1
    assert not any(e.get("deviceId") == key.device_id for e in after)


async def test_node_event_subscriptions_and_unknown_events(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with await _open_node(gateway.url, key, []) as node:
            assert await node.call("node.event", {"event": "chat.subscribe", "payloadJSON": '{"sessionKey":"agent:main:main"}'}
                                   ) == {"ok": True, "event": "chat.subscribe", "handled": True}
            assert await node.call("node.event", {"event": "something.else", "payload": {"x": 1}}) == {
                "ok": True, "event": "something.else", "handled": False}
            session = gateway.runtime.nodes.registry.get(key.device_id)
            assert session.subscriptions == {"agent:main:main"}
            await node.call("node.event", {"event": "chat.unsubscribe", "payload": {"sessionKey": "agent:main:main"}})
            assert session.subscriptions == set()


async def test_exec_approvals_node_get_and_set_are_forwarded_to_the_node(gateway, client):
    key = DeviceKeyPair.generate()
    snapshot = {"path": "/home/n/.clawdbot/exec-approvals.json", "exists": True, "hash": "h1", "file": {"version": 1}}
    with trio.fail_after(10):
        async with await _open_node(gateway.url, key, ["system.execApprovals.get", "system.execApprovals.set"]) \
                as node_client, client() as operator:
            node = _SilentNode(node_client)
            answers, seen = [], []

            async def answer(count: int) -> None:
                for _ in range(count):
                    request = await node.next_request()
                    seen.append((request["command"], json.loads(request["paramsJSON"] or "null")))
                    await node_client.call("node.invoke.result", {"id": request["id"], "nodeId": key.device_id,
                                                                  "ok": True, "payloadJSON": json.dumps(snapshot)})

            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer, 2)
                answers.append(await operator.call("exec.approvals.node.get", {"nodeId": key.device_id}))
                answers.append(await operator.call("exec.approvals.node.set", {
                    "nodeId": key.device_id, "file": {"version": 1}, "baseHash": "h1"}))
            missing = await _error(operator.call("exec.approvals.node.get", {"nodeId": "not-here"}))
    assert answers == [snapshot, snapshot]
    assert seen == [("system.execApprovals.get", {}),
                    ("system.execApprovals.set", {"file": {"version": 1}, "baseHash": "h1"})]
    assert missing.code == "UNAVAILABLE" and missing.details == {"code": "NOT_CONNECTED"}


async def test_a_nodes_system_run_goes_through_the_exec_approvals(gateway, client):
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with await _open_node(gateway.url, key, ["system.run"]) as node_client, client() as operator:
            node, events = _SilentNode(node_client), operator.subscribe()
            seen, results = [], []

            async def invoke(argv, **extra) -> None:
                try:
                    results.append(await operator.call("node.invoke", _invoke(
                        key.device_id, "system.run", {"command": argv, **extra})))
                except RemoteProtocolError as exc:
                    results.append(exc)

            async def answer() -> None:
                request = await node.next_request()
                seen.append(json.loads(request["paramsJSON"]))
                await node_client.call("node.invoke.result", {"id": request["id"], "nodeId": key.device_id,
                                                              "ok": True, "payloadJSON": '{"exitCode":0}'})

            async with trio.open_nursery() as nursery:  # a miss asks; the caller cannot approve itself
                nursery.start_soon(partial(invoke, ["echo", "hi"], approved=True))
                requested = (await next_event(events, "exec.approval.requested")).payload
                assert seen == []  # nothing reached the node while the approvers think
                nursery.start_soon(answer)
                await operator.call("exec.approval.resolve", {"id": requested["id"], "decision": "allow-always"})
            async with trio.open_nursery() as nursery:  # allowlisted now: straight to the node, no approval flag
                nursery.start_soon(answer)
                await invoke(["echo", "again"])
            async with trio.open_nursery() as nursery:  # denied by the approver: the node never hears of it
                nursery.start_soon(invoke, ["rm", "-rf", "x"])
                requested_rm = (await next_event(events, "exec.approval.requested")).payload
                await operator.call("exec.approval.resolve", {"id": requested_rm["id"], "decision": "deny"})
            snapshot = await operator.call("exec.approvals.get", {})
    assert requested["request"]["host"] == "node" and requested["request"]["command"] == "echo hi"
    assert seen[0] == {"command": ["echo", "hi"], "approved": True, "approvalDecision": "allow-always"}
    assert seen[1] == {"command": ["echo", "again"]} and len(seen) == 2
    assert results[0]["payload"] == {"exitCode": 0} and results[1]["payload"] == {"exitCode": 0}
    assert results[2].details["code"] == "SYSTEM_RUN_DENIED" and "denied by the approver" in results[2].message
    assert [entry["pattern"] for entry in snapshot["file"]["agents"]["main"]["allowlist"]] == ["echo"]

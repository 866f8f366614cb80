"""JSON inside a frame (``payloadJSON`` of ``node.event`` and of a node's invoke result) is parsed within
the frame's own limits: too deep, a huge integer or ``1e999`` is a clean answer, never a handler crash.

Over real loopback WebSockets: a node and an operator on the test gateway (issue 15, requirement 10).
"""

from __future__ import annotations

import pytest
import trio

from moltbot.client import open_gateway_client
from moltbot.protocol import RemoteProtocolError
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import TOKEN
from tests.nodes.helpers import next_event

DEEP = "[" * 100_000 + "]" * 100_000


def _open_node(url: str, key: DeviceKeyPair, commands: list[str]):
    return open_gateway_client(url, token=TOKEN, device=key, role="node", client_id="node-host", mode="node",
                               commands=commands)


@pytest.mark.parametrize(("payload_json", "limit"), [
    (DEEP, "nesting deeper than 128 levels"),
    ('{"n":' + "9" * 5000 + "}", "integer of more than 4300 digits"),
    ('{"n":1e999}', "number out of range"),
])
async def test_node_event_payload_json_beyond_the_limits_is_invalid_request(gateway, payload_json, limit):
    with trio.fail_after(20):
        async with _open_node(gateway.url, DeviceKeyPair.generate(), []) as node:
            with pytest.raises(RemoteProtocolError) as caught:
                await node.call("node.event", {"event": "chat.subscribe", "payloadJSON": payload_json})
            assert (await node.call("node.event", {"event": "x", "payloadJSON": "{}"}))["ok"] is True
    assert (caught.value.code, caught.value.message) == (
        "INVALID_REQUEST", f"invalid node.event params: payloadJSON: {limit}")


async def test_a_node_answer_with_payload_json_too_deep_reaches_the_caller_as_text(gateway, client):
    """The node's answer cannot become ``payload``; the caller gets ``payload: null`` and the raw text."""
    key = DeviceKeyPair.generate()
    with trio.fail_after(20):
        async with _open_node(gateway.url, key, ["system.which"]) as node, client() as operator:
            requests = node.subscribe()
            async with trio.open_nursery() as nursery:
                answers = []

                async def invoke():
                    answers.append(await operator.call("node.invoke", {
                        "nodeId": key.device_id, "command": "system.which", "idempotencyKey": "k"}))

                nursery.start_soon(invoke)
                request = (await next_event(requests, "node.invoke.request")).payload
                await node.call("node.invoke.result", {"id": request["id"], "nodeId": key.device_id,
                                                       "ok": True, "payloadJSON": DEEP})
    assert answers[0]["ok"] is True and answers[0]["payload"] is None and answers[0]["payloadJSON"] == DEEP

"""Results and events in the shapes today's OpenClaw clients read, over a real socket at protocol 4.

``logs.tail`` lines carry ``time``/``subsystem``/``message`` (what ``openclaw logs`` prints), ``agent``
results carry ``payloads[].text`` (what ``openclaw agent`` prints), ``chat`` deltas carry ``deltaText``,
and the results the schema defines validate against it.
"""

from __future__ import annotations

import json
import logging

import trio

from moltbot.agents.providers.echo import PREFIX
from moltbot.agents.runtime import chat_delta
from moltbot.client import open_gateway_client
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import TOKEN, installed_gateway_log
from tests.v4.test_methods_cron import call, check, operator


async def test_logs_tail_lines_carry_openclaws_keys(config, gateway, openclaw_schema):
    with installed_gateway_log(config, verbose=False, env={}):
        logging.getLogger("moltbot.gateway.connection").warning("hello from the log")
        params = {"limit": 20, "maxBytes": 250_000}  # what `openclaw logs --limit 20` sends
        check(openclaw_schema, "LogsTailParams", params)
        with trio.fail_after(20):
            async with operator(gateway) as ws:
                result = await call(ws, "logs.tail", params)
    check(openclaw_schema, "LogsTailResult", result)
    # the last line of the warning's logger (connections are logged too, under moltbot.gateway)
    line = [entry for entry in map(json.loads, result["lines"]) if entry["logger"] == "moltbot.gateway.connection"][-1]
    assert (line["time"], line["subsystem"], line["message"], line["level"]) == (
        line["ts"], "gateway/connection", "hello from the log", "warning")
    assert line["msg"] == line["message"] and line["logger"] == "moltbot.gateway.connection"


async def test_agent_result_has_payloads_text(gateway, openclaw_schema):
    params = {"message": "hi", "sessionId": "s1", "deliver": False, "timeout": 600,
              "idempotencyKey": "cli-run-1"}  # what `openclaw agent --message hi --session-id s1` sends
    check(openclaw_schema, "AgentParams", params)
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            # the id must be a session's (an unknown one is refused: test_left16_agent_session_id.py)
            await ws.send({"type": "req", "id": "a0", "method": "agent",
                           "params": {"message": "first", "idempotencyKey": "cli-run-0"}})
            await ws.response("a0")
            await ws.response("a0")
            sessions = (await call(ws, "sessions.list", {}))["sessions"]
            params["sessionId"] = next(row["sessionId"] for row in sessions if row["key"] == "agent:main:main")
            await ws.send({"type": "req", "id": "a1", "method": "agent", "params": params})
            accepted = await ws.response("a1")
            final = await ws.response("a1")
    assert accepted["payload"]["status"] == "accepted"
    result = final["payload"]["result"]
    assert result["payloads"] == [{"text": PREFIX + "hi"}] and result["text"] == PREFIX + "hi"
    assert result["meta"]["durationMs"] >= 0


async def test_chat_events_validate_and_deltas_carry_delta_text(gateway, openclaw_schema):
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            await ws.send({"type": "req", "id": "s1", "method": "chat.send",
                           "params": {"sessionKey": "main", "message": "hello", "idempotencyKey": "chat-1"}})
            chats = []
            while not chats or chats[-1]["state"] != "final":
                frame = await ws.receive()
                if frame.get("event") == "chat":
                    chats.append(frame["payload"])
    for payload in chats:
        check(openclaw_schema, "ChatEvent", payload)
    deltas = [payload for payload in chats if payload["state"] == "delta"]
    assert deltas  # throttled: the text after the last delta comes with ``final`` only
    assert "".join(d["deltaText"] for d in deltas) == deltas[-1]["message"]["content"][0]["text"]
    assert chats[-1]["message"]["content"][0]["text"] == PREFIX + "hello"


def test_delta_text_is_what_was_appended_or_the_whole_rewrite():
    assert chat_delta("", "Hel") == ("Hel", None)
    assert chat_delta("Hel", "Hello") == ("lo", None)
    assert chat_delta("Hello", "Goodbye") == ("Goodbye", True)


async def test_read_results_with_a_schema_definition_validate(gateway, openclaw_schema):
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            agents = await call(ws, "agents.list", {})
            models = await call(ws, "models.list", {})
            channels_params = {"probe": False, "timeoutMs": 60_000}  # `openclaw channels status`
            check(openclaw_schema, "ChannelsStatusParams", channels_params)
            channels = await call(ws, "channels.status", channels_params)
    check(openclaw_schema, "AgentsListResult", agents)
    check(openclaw_schema, "ModelsListResult", models)
    check(openclaw_schema, "ChannelsStatusResult", channels)


async def test_sessions_delete_result_validates(gateway, openclaw_schema):
    with trio.fail_after(30):
        async with operator(gateway) as ws:
            await ws.send({"type": "req", "id": "a1", "method": "agent",
                           "params": {"message": "hi", "idempotencyKey": "del-1", "sessionKey": "agent:main:gone"}})
            await ws.response("a1")
            await ws.response("a1")
            deleted = await call(ws, "sessions.delete", {"key": "agent:main:gone"})
    check(openclaw_schema, "SessionsDeleteResult", deleted)


async def test_node_event_result_validates(gateway, openclaw_schema):
    params = {"event": "something.else", "payload": {"x": 1}}
    check(openclaw_schema, "NodeEventParams", params)
    with trio.fail_after(30):
        async with open_gateway_client(gateway.url, token=TOKEN, device=DeviceKeyPair.generate(), role="node",
                                       client_id="node-host", mode="node", commands=[]) as node:
            result = await node.call("node.event", params)
    check(openclaw_schema, "NodeEventResult", result)
    assert result == {"ok": True, "event": "something.else", "handled": False}

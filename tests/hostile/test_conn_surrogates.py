"""Lone UTF-16 surrogates over the WebSocket: data, not a kill switch (issue 15, requirement 3).

``"\\ud800"`` is a valid JSON escape that decodes to a Python ``str`` UTF-8 cannot encode. Each method
the issue names takes one; the answer and every event carrying it go out escaped (as Node's
``JSON.stringify`` writes them), a bystander client stays connected, later handshakes work, and every
file the gateway writes (session store, transcript, node pairing, the gateway log) stays valid UTF-8.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from moltbot.channels.whatsapp import bridge as whatsapp_bridge
from moltbot.config.model import (
    AgentDefaults,
    AgentsConfig,
    AuthConfig,
    ChannelsConfig,
    Config,
    GatewayConfig,
    ModelProviderConfig,
    ModelsConfig,
    TelegramConfig,
    WhatsAppConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN, installed_gateway_log, open_raw
from tests.fakes.openai import error_reply, open_fake_openai, text_reply
from tests.fakes.telegram import open_fake_telegram
from tests.fakes.whatsapp import FakeWhatsApp, link

LONE = "\ud800"
ESCAPED = "\\ud800"  # how the frame text carries it


def parse_utf8_json_lines(path: Path) -> list:
    """Every line of ``path``, decoded as strict UTF-8 and parsed (fails on a lone surrogate's bytes)."""
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines() if line.strip()]


async def texts_until(ws, predicate) -> list[str]:
    """Raw frame texts until one whose parsed frame satisfies ``predicate`` (inclusive)."""
    texts = []
    while True:
        text = await ws.ws.get_message()
        texts.append(text)
        if predicate(json.loads(text)):
            return texts


async def assert_still_serving(bystander, url: str) -> None:
    """The bystander's connection is open and answers; a new client completes its handshake."""
    health = await bystander.call("health", request_id="after")
    assert health["ok"], health
    async with open_raw(url, handshake=True) as late:
        assert (await late.call("health"))["ok"]


def _final_of(request_id: str):
    return lambda f: f.get("type") == "res" and f.get("id") == request_id and f["payload"].get("status") != "accepted"


async def test_chat_send_with_a_lone_surrogate_is_escaped_in_frames_and_the_transcript(raw, gateway, tmp_path):
    async with raw(handshake=True) as bystander, raw(handshake=True) as ws:
        with trio.fail_after(9):
            await ws.send({"type": "req", "id": "s1", "method": "chat.send",
                           "params": {"sessionKey": "main", "message": f"hi {LONE}", "idempotencyKey": "k1"}})
            texts = await texts_until(ws, lambda f: f.get("event") == "chat" and f["payload"]["state"] == "final")
            assert any(ESCAPED in text for text in texts)
            assert json.loads(texts[-1])["payload"]["message"]["content"][0]["text"].endswith(LONE)
            await assert_still_serving(bystander, gateway.url)
    (transcript,) = (tmp_path / "agents" / "main" / "sessions").glob("*.jsonl")
    assert any(LONE in json.dumps(line, ensure_ascii=False) for line in parse_utf8_json_lines(transcript))
    json.loads((transcript.parent / "sessions.json").read_bytes().decode("utf-8"))


async def test_agent_with_a_lone_surrogate_answers_twice_and_keeps_the_connection(raw, gateway, tmp_path):
    async with raw(handshake=True) as bystander, raw(handshake=True) as ws:
        with trio.fail_after(9):
            await ws.send({"type": "req", "id": "a1", "method": "agent",
                           "params": {"message": LONE, "idempotencyKey": f"run-{LONE}"}})
            texts = await texts_until(ws, _final_of("a1"))
            final = json.loads(texts[-1])
            assert final["ok"] and final["payload"]["status"] == "ok", final
            assert final["payload"]["runId"] == f"run-{LONE}" and ESCAPED in texts[-1]
            await assert_still_serving(bystander, gateway.url)
    (transcript,) = (tmp_path / "agents" / "main" / "sessions").glob("*.jsonl")
    assert len(parse_utf8_json_lines(transcript)) == 3  # header, user turn, assistant turn


async def test_system_event_with_a_lone_surrogate_leaves_later_handshakes_working(raw, gateway):
    async with raw(handshake=True) as bystander, raw(handshake=True) as ws:
        with trio.fail_after(9):
            answer = await ws.call("system-event", {"text": LONE, "host": f"host-{LONE}", "instanceId": "i1"})
            assert answer["ok"], answer
            # hello-ok's snapshot carries the presence entry (its text and host) to every later client.
            for _ in range(3):
                async with open_raw(gateway.url) as late:
                    await late.send(json.dumps({"type": "req", "id": "c1", "method": "connect", "params": {
                        "minProtocol": 3, "maxProtocol": 7, "auth": {"token": TOKEN},
                        "client": {"id": "test", "version": "1", "platform": "linux", "mode": "test"}}}))
                    hello = await late.ws.get_message()
                    assert json.loads(hello)["ok"] and f"host-{ESCAPED}" in hello
            assert any(entry.get("text") == LONE for entry in (await bystander.call("system-presence"))["payload"])
            await assert_still_serving(bystander, gateway.url)


async def test_sessions_patch_with_a_lone_surrogate_label_is_stored_as_valid_utf8(raw, gateway, tmp_path):
    async with raw(handshake=True) as bystander, raw(handshake=True) as ws:
        with trio.fail_after(9):
            patched = await ws.call("sessions.patch", {"key": "agent:main:main", "label": f"label {LONE}"})
            assert patched["ok"], patched
            await ws.send({"type": "req", "id": "l1", "method": "sessions.list", "params": {}})
            listed = await texts_until(ws, lambda f: f.get("id") == "l1")
            assert f"label {ESCAPED}" in listed[-1]
            await assert_still_serving(bystander, gateway.url)
    store = tmp_path / "agents" / "main" / "sessions" / "sessions.json"
    entries = json.loads(store.read_bytes().decode("utf-8"))
    assert entries["agent:main:main"]["label"] == f"label {LONE}"


async def test_node_pair_request_with_a_lone_surrogate_reaches_operators_escaped(raw, gateway, tmp_path):
    admin = {"scopes": ["operator.admin"]}
    async with raw(handshake=True, **admin) as operator, raw(handshake=True) as ws:
        with trio.fail_after(9):
            await ws.send({"type": "req", "id": "p1", "method": "node.pair.request",
                           "params": {"nodeId": f"node-{LONE}", "displayName": LONE}})
            answer = await ws.response("p1")
            assert answer["ok"] and answer["payload"]["request"]["displayName"] == LONE, answer
            texts = await texts_until(operator, lambda f: f.get("event") == "node.pair.requested")
            assert ESCAPED in texts[-1]
            await assert_still_serving(operator, gateway.url)
    files = [path for path in tmp_path.rglob("*.json") if "pending" in path.name]
    assert files and all(json.loads(path.read_bytes().decode("utf-8")) is not None for path in files)


async def test_node_pair_verify_with_a_lone_surrogate_token_is_a_wrong_token(raw, gateway):
    async with raw(handshake=True, scopes=["operator.admin"]) as ws:
        with trio.fail_after(9):
            created = await ws.call("node.pair.request", {"nodeId": "n1"})
            approved = await ws.call("node.pair.approve", {"requestId": created["payload"]["request"]["requestId"]})
            assert approved["ok"], approved
            verified = await ws.call("node.pair.verify", {"nodeId": "n1", "token": f"x{LONE}"})
            assert verified == {"type": "res", "id": "r1", "ok": True, "payload": {"ok": False}}


def provider_config(tmp_path, base_url) -> Config:
    return Config(
        gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
        agents=AgentsConfig(defaults=AgentDefaults(model="local/fake-model")),
        models=ModelsConfig(providers={"local": ModelProviderConfig(base_url=base_url, api_key="sk-x",
                                                                    api="openai-completions")}))


async def test_a_lone_surrogate_reaches_a_model_provider_escaped(tmp_path):
    async with open_fake_openai(text_reply("seen")) as fake:
        async with open_gateway(provider_config(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True) as ws:
                with trio.fail_after(30):
                    await ws.send({"type": "req", "id": "a1", "method": "agent",
                                   "params": {"message": f"hi {LONE}", "idempotencyKey": "p1"}})
                    final = json.loads((await texts_until(ws, _final_of("a1")))[-1])
    assert final["ok"] and final["payload"]["status"] == "ok", final
    assert ESCAPED.encode() in fake.requests[0].body
    assert fake.requests[0].json()["messages"][-1]["content"] == f"hi {LONE}"


async def test_telegram_send_of_a_lone_surrogate_reaches_the_bot_api_escaped(tmp_path):
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot("111:AAA-test-token")
            config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                            channels=ChannelsConfig(telegram=TelegramConfig(api_root=fake.url,
                                                                            bot_token="111:AAA-test-token")))
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_raw(gateway.url, handshake=True) as ws:
                    sent = await ws.call("send", {"to": "42", "message": f"hello {LONE}", "channel": "telegram",
                                                  "idempotencyKey": "k1"})
    assert sent["ok"], sent
    assert bot.sent[0]["text"] == f"hello {LONE}"


async def test_whatsapp_send_of_a_lone_surrogate_sends_a_replacement_character(tmp_path, monkeypatch):
    fake = FakeWhatsApp()
    monkeypatch.setattr(whatsapp_bridge, "BACKEND", fake)
    link(tmp_path / "credentials" / "whatsapp" / "default")
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                    channels=ChannelsConfig(whatsapp=WhatsAppConfig()))
    with trio.fail_after(30):
        async with open_gateway(config, port=0, env={}) as gateway:
            while not gateway.runtime.channels.statuses["whatsapp"]["default"].connected:  # noqa: ASYNC110 (polled under fail_after)
                await trio.sleep(0.01)
            async with open_raw(gateway.url, handshake=True) as ws:
                sent = await ws.call("send", {"to": "+491701234567", "message": f"hi {LONE}",
                                              "idempotencyKey": "k1"})
    assert sent["ok"], sent  # not "'utf-8' codec can't encode…"
    assert fake.sent == [("491701234567@s.whatsapp.net", "hi \ufffd")]


@pytest.fixture
def gateway_log(tmp_path):
    """The gateway's JSON-lines log file, installed as ``moltbot gateway --verbose`` does, then removed."""
    with installed_gateway_log(Config(state_dir=tmp_path), verbose=True, env={}) as path:
        yield path


async def test_gateway_log_stays_valid_utf8_when_a_logged_value_holds_a_lone_surrogate(gateway_log, tmp_path):
    # A failed run is logged with its run id, which is the client's idempotencyKey.
    async with open_fake_openai(error_reply(400, "bad request")) as fake:
        async with open_gateway(provider_config(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True) as ws:
                with trio.fail_after(30):
                    await ws.send({"type": "req", "id": "a1", "method": "agent",
                                   "params": {"message": "hi", "idempotencyKey": f"run-{LONE}"}})
                    final = json.loads((await texts_until(ws, _final_of("a1")))[-1])
                    assert final["ok"] is False and final["payload"]["runId"] == f"run-{LONE}", final
                    unknown = await ws.call(f"no.such.{LONE}")  # an error whose message holds the text
                    assert unknown["error"]["message"] == f"unknown method: no.such.{LONE}"
    lines = parse_utf8_json_lines(gateway_log)
    assert any(f"run-{LONE}" in line["msg"] for line in lines)

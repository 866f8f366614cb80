"""Telegram end to end: a real gateway on port 0 polling the fake Bot API, the echo agent answering."""

from __future__ import annotations

import json
import re

import attrs
import httpx
import pytest
import trio

from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff
from moltbot.channels.pairing import ALPHABET, PairingStore
from moltbot.channels.telegram import webhook
from moltbot.channels.whatsapp import bridge as whatsapp_bridge
from moltbot.client import open_gateway_client
from moltbot.config.load import load_config
from moltbot.config.model import (
    AgentEntry,
    AgentsConfig,
    AuthConfig,
    Binding,
    BindingMatch,
    BindingPeer,
    ChannelsConfig,
    Config,
    GatewayConfig,
    TelegramAccount,
    TelegramConfig,
    TelegramGroup,
    TelegramTopic,
    WhatsAppConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.telegram import CONFLICT, open_fake_telegram
from tests.fakes.whatsapp import FakeWhatsApp, link

BOT = "111:AAA-test-token"
OTHER_BOT = "222:BBB-test-token"


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.1))
    monkeypatch.setattr(manager_module, "APPROVAL_CHECK_SECONDS", 0.05)


def telegram_config(tmp_path, fake, **account) -> Config:
    account.setdefault("bot_token", BOT)
    return Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                  channels=ChannelsConfig(telegram=TelegramConfig(api_root=fake.url, **account)))


async def test_dm_from_allowed_user_reaches_the_agent_and_the_reply_is_sent(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="allowlist", allow_from=["tg:42"])
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="hello bot")
                await bot.wait_sent(1)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
    sent = bot.sent[0]
    assert sent["chat_id"] == 42
    assert sent["text"].endswith("You said: hello bot")
    assert sent["reply_parameters"]["message_id"] == 1001
    assert (entry["lastChannel"], entry["lastTo"]) == ("telegram", "42")
    assert bot.method_calls("getMe")
    first_poll = bot.method_calls("getUpdates")[0]
    assert first_poll["timeout"] > 0 and "message" in first_poll["allowed_updates"]


async def test_unknown_sender_gets_one_pairing_code_and_is_answered_once_approved(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(telegram_config(tmp_path, fake), port=0, env={}) as gateway:
                dispatcher = gateway.runtime.channels.dispatcher
                bot.push_message(chat_id=7, user_id=7, text="who are you")
                await bot.wait_sent(1)
                bot.push_message(chat_id=7, user_id=7, text="hello?")
                await dispatcher.wait_handled(2)
                assert len(bot.sent) == 1  # the pending code is not sent again
                code = re.search(r"Pairing code: ([A-Z0-9]{8})", bot.sent[0]["text"]).group(1)
                assert set(code) <= set(ALPHABET)
                stored = json.loads((tmp_path / "credentials" / "telegram-pairing.json").read_text())
                assert [r["code"] for r in stored["requests"]] == [code]
                assert PairingStore(tmp_path, "telegram").approve(code) == "7"
                await bot.wait_sent(2)
                assert bot.sent[1]["chat_id"] == 7 and "approved" in bot.sent[1]["text"]
                bot.push_message(chat_id=7, user_id=7, text="now?")
                await bot.wait_sent(3)
    assert bot.sent[2]["text"].endswith("You said: now?")


async def test_allowlist_without_allow_from_answers_nobody(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(telegram_config(tmp_path, fake, dm_policy="allowlist"), port=0,
                                    env={}) as gateway:
                bot.push_message(chat_id=5, user_id=5, text="anyone?")
                await gateway.runtime.channels.dispatcher.wait_handled(1)
    assert bot.sent == []


async def test_group_message_needs_a_mention_and_gets_a_group_session(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT, username="molt_bot")
            config = telegram_config(tmp_path, fake, group_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=-100, user_id=9, text="just chatting", chat_type="supergroup")
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                assert bot.sent == []
                bot.push_message(chat_id=-100, user_id=9, text="@molt_bot hi", chat_type="supergroup",
                                 is_forum=True, thread_id=5)
                await bot.wait_sent(1)
                await gateway.runtime.channels.dispatcher.wait_handled(2)
                store = gateway.runtime.agents.store("main")
    assert bot.sent[0]["chat_id"] == -100 and bot.sent[0]["message_thread_id"] == 5
    assert store.entries["agent:main:telegram:group:-100:topic:5"]["lastTo"] == "-100:topic:5"


async def test_offset_is_persisted_so_a_restarted_gateway_handles_nothing_twice(tmp_path):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}):
                first = bot.push_message(chat_id=42, user_id=42, text="one")
                await bot.wait_sent(1)
            offset_file = tmp_path / "credentials" / "telegram-default-offset.json"
            assert json.loads(offset_file.read_text())["lastUpdateId"] == first
            bot.updates.insert(0, {"update_id": first, "message": {  # as if Telegram had not confirmed it
                "message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "one",
                "from": {"id": 42, "is_bot": False, "first_name": "U"}}})
            polls_before = len(bot.method_calls("getUpdates"))
            bot.push_message(chat_id=42, user_id=42, text="two")
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_sent(2)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
    assert bot.method_calls("getUpdates")[polls_before]["offset"] == first + 1
    assert [s["text"].rsplit(": ", 1)[1] for s in bot.sent] == ["one", "two"]


async def test_conflict_409_backs_off_and_recovers_on_a_fresh_connection(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            bot.fail("getUpdates", 409, CONFLICT)
            async with open_gateway(telegram_config(tmp_path, fake, dm_policy="open"), port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="still there?")
                await bot.wait_sent(1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    status = await client.call("channels.status", {})
    account = status["channelAccounts"]["telegram"][0]
    assert account["reconnectAttempts"] == 1 and account["connected"] is True
    assert len(bot.method_calls("getMe")) == 2 and fake.connections >= 2
    assert bot.max_polls_in_flight == 1


async def test_rate_limit_429_waits_retry_after_without_restarting(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            bot.fail("getUpdates", 429, "Too Many Requests: retry after 0.1", retry_after=0.1)
            async with open_gateway(telegram_config(tmp_path, fake, dm_policy="open"), port=0, env={}):
                bot.push_message(chat_id=42, user_id=42, text="hi")
                await bot.wait_sent(1)
    assert len(bot.method_calls("getMe")) == 1


async def test_a_crashing_account_restarts_with_backoff_while_another_keeps_working(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            broken, working = fake.bot(BOT), fake.bot(OTHER_BOT)
            for _ in range(3):
                broken.fail("getMe", 500, "Internal Server Error")
            accounts = {"a": TelegramAccount(bot_token=BOT, api_root=fake.url, dm_policy="open"),
                        "b": TelegramAccount(bot_token=OTHER_BOT, api_root=fake.url, dm_policy="open")}
            config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                            channels=ChannelsConfig(telegram=TelegramConfig(accounts=accounts)))
            async with open_gateway(config, port=0, env={}) as gateway:
                working.push_message(chat_id=1, user_id=1, text="ping")
                await working.wait_sent(1)
                await broken.wait_for(lambda: len(broken.method_calls("getUpdates")) >= 1)
                broken.push_message(chat_id=2, user_id=2, text="back?")
                await broken.wait_sent(1)
                await gateway.runtime.channels.dispatcher.wait_handled(2)
                status = gateway.runtime.channels.statuses["telegram"]
                stats = gateway.runtime.channels.statistics()
    assert (stats.accounts, stats.running, stats.connected, stats.inbound_handled) == (2, 2, 2, 2)
    assert len(broken.method_calls("getMe")) == 4
    assert status["a"].reconnect_attempts == 3 and status["a"].last_error is None
    assert status["b"].reconnect_attempts == 0
    assert len(working.method_calls("getMe")) == 1


async def test_hot_reload_of_telegram_restarts_only_telegram_and_never_runs_two_pollers(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                runtime = gateway.runtime
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    await bot.wait_for(lambda: bot.polls_in_flight == 1)
                    new = attrs.evolve(config, channels=ChannelsConfig(telegram=TelegramConfig(
                        bot_token=BOT, api_root=fake.url, dm_policy="open", text_chunk_limit=10)))
                    runtime.apply_config(new, ("restart-channel:telegram",))
                    runtime.apply_config(new, ("restart-channel:telegram",))  # a second trigger races it
                    await bot.wait_for(lambda: runtime.channels.restarts == 2 and bot.polls_in_flight == 1)
                    bot.push_message(chat_id=42, user_id=42, text="after reload")
                    await bot.wait_sent(2)  # chunked to 10 characters now
                    assert (await client.call("health", {}))["channels"]["telegram"]["connected"] is True
                assert gateway.runtime is runtime
    assert bot.conflicts == 0 and bot.max_polls_in_flight == 1
    assert all(len(s["text"]) <= 10 for s in bot.sent)


async def test_send_method_delivers_once_per_idempotency_key(tmp_path):
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(telegram_config(tmp_path, fake), port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    params = {"to": "42:topic:9", "message": "hello", "channel": "telegram", "idempotencyKey": "k1"}
                    first = await client.call("send", params)
                    again = await client.call("send", params)
                    with pytest.raises(Exception, match="unsupported channel: carrier-pigeon"):
                        await client.call("send", {**params, "channel": "carrier-pigeon", "idempotencyKey": "k2"})
                    with pytest.raises(Exception, match="WhatsApp|not available|not configured"):
                        await client.call("send", {**params, "channel": "whatsapp", "idempotencyKey": "k3"})
    assert first == again == {"runId": "send:k1", "messageId": "100", "channel": "telegram", "chatId": "42"}
    assert len(bot.sent) == 1 and bot.sent[0]["message_thread_id"] == 9


def with_whatsapp(tmp_path, fake) -> Config:
    """The Telegram test config plus a default WhatsApp account (its client is the test's fake backend)."""
    return attrs.evolve(telegram_config(tmp_path, fake), channels=ChannelsConfig(
        telegram=TelegramConfig(bot_token=BOT, api_root=fake.url), whatsapp=WhatsAppConfig()))


async def both_channels_settled(gateway, bot) -> None:
    """Telegram is polling and the WhatsApp account has reached its (failed) first outcome."""
    await bot.wait_for(lambda: bot.polls_in_flight == 1)
    whatsapp_status = gateway.runtime.channels.statuses["whatsapp"]["default"]
    while whatsapp_status.last_error is None:  # noqa: ASYNC110 (poll with a deadline)
        await trio.sleep(0.01)


async def test_channels_status_lists_every_channel_and_logout_stops_the_account(tmp_path, caplog, monkeypatch):
    caplog.set_level("INFO", logger="httpx")
    monkeypatch.setattr(whatsapp_bridge, "BACKEND", FakeWhatsApp())  # an unlinked WhatsApp account
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(with_whatsapp(tmp_path, fake), port=0, env={}) as gateway:
                await both_channels_settled(gateway, bot)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    status = await client.call("channels.status", {"probe": True, "timeoutMs": 5000})
                    logout = await client.call("channels.logout", {"channel": "telegram"})
                    after = await client.call("channels.status", {})
    assert status["channelOrder"] == ["telegram", "whatsapp", "webchat"]
    telegram = status["channelAccounts"]["telegram"][0]
    assert telegram["accountId"] == "default" and telegram["running"] and telegram["connected"]
    assert telegram["tokenSource"] == "config" and telegram["mode"] == "polling" and telegram["dmPolicy"] == "pairing"
    assert telegram["probe"]["ok"] is True and telegram["probe"]["bot"]["id"] == 111
    whatsapp = status["channelAccounts"]["whatsapp"][0]
    assert whatsapp["running"] is False and whatsapp["linked"] is False
    assert whatsapp["lastError"] == "not linked: run web.login.start / moltbot channels login"
    assert status["channelAccounts"]["webchat"][0]["connected"] is True
    assert logout == {"channel": "telegram", "accountId": "default", "cleared": False, "loggedOut": True,
                      "envToken": False}
    assert after["channelAccounts"]["telegram"][0]["running"] is False
    assert "/bot<token>/getMe" in caplog.text
    assert BOT not in caplog.text and BOT.split(":")[1] not in caplog.text


async def test_a_restart_racing_a_hot_reload_never_runs_two_pollers(tmp_path):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                restarted = gateway.next_restart()
                gateway.runtime.apply_config(config, ("restart-channel:telegram",))
                gateway.request_restart("test: restart during a channel reload")
                await restarted.wait()
                await bot.wait_for(lambda: bot.polls_in_flight == 1 and bot.calls[-1][0] == "getUpdates")
                bot.push_message(chat_id=42, user_id=42, text="one poller?")
                await bot.wait_sent(1)
    assert bot.conflicts == 0 and bot.max_polls_in_flight == 1


async def test_config_file_reload_restarts_telegram_and_logout_clears_the_token(tmp_path):
    path = tmp_path / "moltbot.json"

    def write(telegram):
        path.write_text(json.dumps({"gateway": {"auth": {"token": TOKEN}}, "channels": {"telegram": telegram}}))

    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            write({"botToken": BOT, "apiRoot": fake.url, "dmPolicy": "open"})
            config = attrs.evolve(load_config(path, env={}), state_dir=tmp_path)
            async with open_gateway(config, port=0, env={}) as gateway:
                runtime = gateway.runtime
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                write({"botToken": BOT, "apiRoot": fake.url, "dmPolicy": "open", "textChunkLimit": 5})
                assert await gateway.reload_config() == "hot"
                await bot.wait_for(lambda: len(bot.method_calls("getMe")) == 2 and bot.polls_in_flight == 1)
                assert gateway.runtime is runtime
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    logout = await client.call("channels.logout", {"channel": "telegram"})
                assert await gateway.reload_config() == "hot"
                await runtime.channels.wait_restarts(2)
                status = runtime.channels.statuses["telegram"]["default"]
    assert logout["cleared"] is True and "botToken" not in json.loads(path.read_text())["channels"]["telegram"]
    assert (status.configured, status.running, status.last_error) == (False, False, "not configured")
    assert bot.conflicts == 0 and bot.max_polls_in_flight == 1


async def test_webhook_mode_serves_its_own_port_checks_the_secret_and_handles_each_update_once(
        tmp_path, monkeypatch):
    monkeypatch.setattr(webhook, "DEFAULT_HOST", "127.0.0.1")
    monkeypatch.setattr(webhook, "DEFAULT_PORT", 0)
    update = {"update_id": 5, "message": {"message_id": 9, "date": 0, "chat": {"id": 42, "type": "private"},
                                          "text": "via webhook", "from": {"id": 42, "is_bot": False, "first_name": "U"}}}
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open", webhook_url="https://example.test/tg",
                                     webhook_secret="s3cret")
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.method_calls("setWebhook"))
                status = gateway.runtime.channels.statuses["telegram"]["default"]
                url = f"http://127.0.0.1:{status.port}"
                async with httpx.AsyncClient() as http:
                    assert (await http.get(url + "/healthz")).text == "ok"
                    wrong = await http.post(url + "/telegram-webhook", json=update,
                                            headers={"x-telegram-bot-api-secret-token": "nope"})
                    assert wrong.status_code == 401
                    for _ in range(2):  # Telegram redelivers when unsure: handled once
                        ok = await http.post(url + "/telegram-webhook", json=update,
                                             headers={"x-telegram-bot-api-secret-token": "s3cret"})
                        assert ok.status_code == 200
                await bot.wait_sent(1)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                assert status.mode == "webhook" and status.connected
    assert bot.method_calls("setWebhook")[0] == {"url": "https://example.test/tg", "secret_token": "s3cret",
                                                 "allowed_updates": bot.method_calls("setWebhook")[0]["allowed_updates"]}
    assert len(bot.sent) == 1 and bot.sent[0]["text"].endswith("You said: via webhook")
    assert gateway.runtime.channels.dispatcher.handled == 1
    assert bot.method_calls("getUpdates") == []


async def test_a_binding_routes_one_chat_to_its_agent_and_others_to_the_default(tmp_path):
    agents = AgentsConfig(entries=[AgentEntry(id="main", default=True), AgentEntry(id="work")])
    binding = Binding(agent_id="work", match=BindingMatch(channel="telegram", peer=BindingPeer(kind="dm", id="42")))
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = attrs.evolve(telegram_config(tmp_path, fake, dm_policy="open"), agents=agents,
                                  bindings=[binding])
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="for work")
                bot.push_message(chat_id=7, user_id=7, text="for main")
                await bot.wait_sent(2)
                await gateway.runtime.channels.dispatcher.wait_handled(2)
                runtime = gateway.runtime
                work, main = runtime.agents.store("work"), runtime.agents.store("main")
                work_lines = (work.path.parent / f"{work.entries['agent:work:main']['sessionId']}.jsonl").read_text()
    assert {s["chat_id"]: s["text"].rsplit(": ", 1)[1] for s in bot.sent} == {42: "for work", 7: "for main"}
    assert (work.entries["agent:work:main"]["lastChannel"], work.entries["agent:work:main"]["lastTo"]) == (
        "telegram", "42")
    assert main.entries["agent:main:main"]["lastTo"] == "7" and "agent:main:main" not in work.entries
    assert "for work" in work_lines and "for main" not in work_lines
    assert json.loads((tmp_path / "agents" / "work" / "sessions" / "sessions.json").read_text())[
        "agent:work:main"]["lastChannel"] == "telegram"


async def test_health_status_and_hello_ok_report_channel_summaries_and_the_link_channel(tmp_path, monkeypatch):
    whatsapp_backend = FakeWhatsApp()  # a linked account whose network is down: linked, not connected
    whatsapp_backend.unreachable = "dial tcp: lookup web.whatsapp.com: no such host"
    monkeypatch.setattr(whatsapp_bridge, "BACKEND", whatsapp_backend)
    link(tmp_path / "credentials" / "whatsapp" / "default")
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(with_whatsapp(tmp_path, fake), port=0, env={}) as gateway:
                await both_channels_settled(gateway, bot)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    snapshot = client.hello.snapshot.health
                    health = await client.call("health", {})
                    status = await client.call("status", {})
    for summary in (snapshot, health):
        telegram = summary["channels"]["telegram"]
        assert (telegram["accountId"], telegram["configured"], telegram["connected"]) == ("default", True, True)
        assert telegram["accounts"]["default"]["tokenSource"] == "config"
        whatsapp = summary["channels"]["whatsapp"]
        assert whatsapp["linked"] is True and whatsapp["connected"] is False
        assert summary["linkChannel"]["id"] == "whatsapp" and summary["linkChannel"]["linked"] is True
        assert 0 <= summary["linkChannel"]["authAgeMs"] < 60_000
    assert status["linkChannel"] == {**health["linkChannel"], "authAgeMs": status["linkChannel"]["authAgeMs"]}
    assert status["channelSummary"][0] == "Telegram: connected"
    assert status["channelSummary"][1].startswith("WhatsApp: error: "), status["channelSummary"]


async def test_the_link_channel_is_unlinked_without_credentials(tmp_path):
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path)
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                health = await client.call("health", {})
    assert health["linkChannel"] == {"id": "whatsapp", "label": "WhatsApp", "linked": False, "authAgeMs": None}
    assert health["channels"]["telegram"]["configured"] is False


async def test_a_forum_topics_own_config_gates_senders_and_prompts_the_agent(tmp_path):
    topic = TelegramTopic(require_mention=False, allow_from=["9"], system_prompt="Answer in haiku.")
    groups = {"-100": TelegramGroup(system_prompt="This is the ops room.", topics={"7": topic})}
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT, username="molt_bot")
            async with open_gateway(telegram_config(tmp_path, fake, groups=groups), port=0, env={}) as gateway:
                chat = {"chat_id": -100, "chat_type": "supergroup", "is_forum": True}
                bot.push_message(user_id=8, text="not allowed here", thread_id=7, **chat)
                bot.push_message(user_id=9, text="no mention needed", thread_id=7, **chat)
                bot.push_message(user_id=8, text="elsewhere, unmentioned", thread_id=3, **chat)
                await gateway.runtime.channels.dispatcher.wait_handled(3)
                await bot.wait_sent(1)
                runs = [r for r in gateway.runtime.agents.runs.values() if r.run_id.startswith("inbound-")]
    assert len(bot.sent) == 1 and bot.sent[0]["message_thread_id"] == 7
    assert bot.sent[0]["text"].endswith("You said: no mention needed")
    (run,) = runs
    assert run.session_key == "agent:main:telegram:group:-100:topic:7"
    assert run.extra_system_prompt == "This is the ops room.\n\nAnswer in haiku."


async def test_a_bindings_change_in_the_file_routes_the_next_message_without_a_restart(tmp_path):
    path = tmp_path / "moltbot.json"

    def write(fake, bindings):
        path.write_text(json.dumps({
            "gateway": {"auth": {"token": TOKEN}}, "bindings": bindings,
            "agents": {"list": [{"id": "main", "default": True}, {"id": "work"}]},
            "channels": {"telegram": {"botToken": BOT, "apiRoot": fake.url, "dmPolicy": "open"}}}))

    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            write(fake, [])
            config = attrs.evolve(load_config(path, env={}), state_dir=tmp_path)
            async with open_gateway(config, port=0, env={}) as gateway:
                runtime = gateway.runtime
                bot.push_message(chat_id=42, user_id=42, text="before")
                await bot.wait_sent(1)
                write(fake, [{"agentId": "work", "match": {"channel": "telegram", "peer": {"kind": "dm", "id": 42}}}])
                assert await gateway.reload_config() == "hot"
                bot.push_message(chat_id=42, user_id=42, text="after")
                await bot.wait_sent(2)
                await runtime.channels.dispatcher.wait_handled(2)
                assert gateway.runtime is runtime
                main, work = runtime.agents.store("main").entries, runtime.agents.store("work").entries
    assert "agent:main:main" in main and "agent:work:main" in work
    assert bot.conflicts == 0 and len(bot.method_calls("getMe")) == 1  # telegram was not restarted

"""Exactly once end to end: a real gateway on port 0, the fake Telegram Bot API and the fake WhatsApp
backend, restarted in-process and as a new process (a new ``open_gateway`` on the same state dir)."""

from __future__ import annotations

import copy
import json

import attrs
import pytest
import trio

from moltbot.channels import inbound as inbound_module
from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff, InboundMessage, wall_ms
from moltbot.channels.whatsapp import bridge
from moltbot.client import open_gateway_client
from moltbot.delivery import outbox as outbox_module
from moltbot.delivery.receipts import MAX_ATTEMPTS, encode_message
from moltbot.delivery.store import DB_NAME, DeliveryDB
from moltbot.gateway.app import open_gateway
from tests.channels.test_telegram_gateway import BOT, telegram_config
from tests.channels.test_whatsapp import PEER, account_status, auth_dir, wait_until, whatsapp_config
from tests.conftest import TOKEN
from tests.fakes.telegram import open_fake_telegram
from tests.fakes.whatsapp import FakeWhatsApp, link


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.1))
    monkeypatch.setattr(outbox_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.0))


def replies(bot) -> list[str]:
    return [sent["text"].rsplit("You said: ", 1)[-1] for sent in bot.sent]


def forget_offset(tmp_path, bot, updates) -> None:
    """As if the gateway had died before writing its offset: Telegram sends these updates again."""
    (tmp_path / "credentials" / "telegram-default-offset.json").unlink(missing_ok=True)
    bot.updates[:0] = [copy.deepcopy(u) for u in updates]


def push(bot, text: str) -> dict:
    """Queue a DM from user 42; a copy of its update, to deliver again later."""
    bot.push_message(chat_id=42, user_id=42, text=text)
    return copy.deepcopy(bot.updates[-1])


def delivery_db(tmp_path) -> DeliveryDB:
    return DeliveryDB(tmp_path / "delivery" / DB_NAME)


async def restart_in_process(gateway) -> None:
    done = gateway.next_restart()
    gateway.request_restart("test: in-process restart")
    await done.wait()


async def test_a_redelivered_update_starts_one_turn_across_in_process_and_process_restarts(tmp_path):
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            async with open_gateway(config, port=0, env={}) as gateway:
                one = push(bot, "one")
                await bot.wait_sent(1)
                await restart_in_process(gateway)
                forget_offset(tmp_path, bot, [one])
                two = push(bot, "two")
                await bot.wait_sent(2)
                in_process = gateway.runtime.channels.delivery.receipts.duplicates
            forget_offset(tmp_path, bot, [one, two])
            push(bot, "three")
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_sent(3)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                across = gateway.runtime.channels.delivery.receipts.duplicates
    assert replies(bot) == ["one", "two", "three"]
    assert in_process >= 1 and across >= 2  # "one" after the first restart; "one", "two" after the second


async def test_a_reply_queued_while_telegram_fails_is_sent_once_after_a_restart(tmp_path):
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            for _ in range(1000):
                bot.fail("sendMessage", 502, "Bad Gateway")
            async with open_gateway(config, port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="are you there")
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    status = await client.call("channels.status", {})
            assert bot.sent == [] and bot.method_calls("sendMessage")
            (row,) = status["channelAccounts"]["telegram"]
            assert row["pending"] == 1 and row["deadLetters"] == 0
            bot.failures.clear()
            for _ in range(2):  # the first start sends it; the second finds nothing left to send
                async with open_gateway(config, port=0, env={}) as gateway:
                    await bot.wait_sent(1)
                    await gateway.runtime.channels.delivery.outbox.wait_idle()
    assert replies(bot) == ["are you there"]
    db = delivery_db(tmp_path)
    (stored,) = db.rows()
    assert (stored.kind, stored.state, stored.message_id, stored.last_error) == ("reply", "delivered", "100", None)
    assert stored.attempts >= 2


async def test_send_queued_during_an_outage_is_sent_once_and_its_key_answers_after_a_restart(tmp_path):
    params = {"to": "42", "message": "hello", "channel": "telegram", "idempotencyKey": "k1"}
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake)
            for _ in range(1000):
                bot.fail("sendMessage", 500, "Internal Server Error")
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    with pytest.raises(Exception, match=r"queued for retry \(attempt \d+\): telegram 500"):
                        await client.call("send", params)
            bot.failures.clear()
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_sent(1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    again = await client.call("send", params)
    assert again == {"runId": "send:k1", "messageId": "100", "channel": "telegram", "chatId": "42"}
    assert len(bot.sent) == 1


async def test_a_permanent_refusal_is_dead_lettered_with_the_reason_in_channels_status(tmp_path):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            bot.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
            async with open_gateway(telegram_config(tmp_path, fake), port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    with pytest.raises(Exception, match="bot was blocked"):
                        await client.call("send", {"to": "42", "message": "hi", "channel": "telegram",
                                                   "idempotencyKey": "blocked"})
                    status = await client.call("channels.status", {})
    assert len(bot.method_calls("sendMessage")) == 1  # not retried
    assert status["channelAccounts"]["telegram"][0]["deadLetters"] == 1
    (dead,) = delivery_db(tmp_path).rows(state="dead")
    assert dead.last_error == "telegram 403: Forbidden: bot was blocked by the user"


BAD_UPDATE = {"update_id": 500, "message": {"message_id": 9, "date": 0, "chat": "not an object", "text": "x"}}


async def test_one_unreadable_update_is_dead_lettered_acknowledged_and_never_handled_again(tmp_path):
    with trio.fail_after(40):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            bot.updates.append(copy.deepcopy(BAD_UPDATE))
            bot._next_update = 501
            bot.push_message(chat_id=42, user_id=42, text="after the bad one")
            statuses = []
            for run in range(3):  # the first run, then two restarts that are sent the bad update again
                async with open_gateway(config, port=0, env={}) as gateway:
                    await bot.wait_sent(run + 1)
                    async with open_gateway_client(gateway.url, token=TOKEN) as client:
                        statuses.append((await client.call("channels.status", {}))["channelAccounts"]["telegram"][0])
                offset = json.loads((tmp_path / "credentials" / "telegram-default-offset.json").read_text())
                assert offset["lastUpdateId"] >= 501  # acknowledged with the rest
                forget_offset(tmp_path, bot, [BAD_UPDATE])
                bot.push_message(chat_id=42, user_id=42, text=f"restart {run + 1}")
    assert replies(bot) == ["after the bad one", "restart 1", "restart 2"]
    assert [s["inboundDeadLetters"] for s in statuses] == [1, 1, 1]
    assert all(s["connected"] for s in statuses)
    (dead,) = delivery_db(tmp_path).dead_receipts()
    assert dead["messageKey"] == "update:500" and dead["reason"].startswith("unreadable update: AttributeError")


async def test_a_message_whose_handler_raises_is_dead_lettered_and_not_replayed(tmp_path, monkeypatch, caplog):
    route = inbound_module.Dispatcher.route

    def explode_on_boom(self, message):
        if message.text == "boom":
            raise RuntimeError("handler bug")
        return route(self, message)

    monkeypatch.setattr(inbound_module.Dispatcher, "route", explode_on_boom)
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            boom = push(bot, "boom")
            async with open_gateway(config, port=0, env={}) as gateway:
                await gateway.runtime.channels.dispatcher.wait_handled(1)
            forget_offset(tmp_path, bot, [boom])
            bot.push_message(chat_id=42, user_id=42, text="fine")
            async with open_gateway(config, port=0, env={}) as gateway:
                await bot.wait_sent(1)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                dropped = gateway.runtime.channels.delivery.receipts.duplicates
    assert replies(bot) == ["fine"] and dropped >= 1  # "boom" came again and was not handled
    assert sum("inbound message 42/1001 failed" in r.getMessage() for r in caplog.records) == 1
    (dead,) = delivery_db(tmp_path).dead_receipts()
    assert dead["reason"] == "handler failed: RuntimeError: handler bug"


def cut_short(tmp_path, text: str, message_id: str, attempts: int = 0) -> None:
    """A receipt left ``received``: the gateway stopped while this message's turn ran."""
    message = InboundMessage(channel="telegram", account_id="default", sender_id="42", chat_id="42", text=text,
                             message_id=message_id)
    db = delivery_db(tmp_path)
    db.claim("telegram", "default", message.dedupe_key, encode_message(message), wall_ms())
    for _ in range(attempts):
        db.count_attempt("telegram", "default", message.dedupe_key, wall_ms())
    db.close()


async def test_a_turn_cut_short_by_a_stop_is_handled_once_on_the_next_start(tmp_path):
    cut_short(tmp_path, "crashes every time", "78", attempts=MAX_ATTEMPTS)
    cut_short(tmp_path, "interrupted", "77")
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = telegram_config(tmp_path, fake, dm_policy="open")
            for _ in range(2):
                async with open_gateway(config, port=0, env={}) as gateway:
                    await bot.wait_sent(1)
                    await gateway.runtime.channels.delivery.outbox.wait_idle()
    assert replies(bot) == ["interrupted"] and bot.sent[0]["reply_parameters"]["message_id"] == 77
    (dead,) = delivery_db(tmp_path).dead_receipts()
    assert dead["messageKey"] == "42/78" and "handling never finished" in dead["reason"]


@pytest.fixture
def whatsapp(monkeypatch):
    backend = FakeWhatsApp()
    monkeypatch.setattr(bridge, "BACKEND", backend)
    return backend


async def test_a_whatsapp_message_replayed_on_reconnect_starts_one_turn(tmp_path, whatsapp):
    link(auth_dir(tmp_path))
    config = whatsapp_config(tmp_path, dm_policy="open")
    with trio.fail_after(30):
        for run in range(2):
            async with open_gateway(config, port=0, env={}) as gateway:
                await wait_until(lambda: account_status(gateway).connected)
                client = whatsapp._running(linked=True)
                event = bridge.IncomingText(id="3EB0REPLAYED", chat=PEER, sender=PEER, text="once",
                                            from_me=False, is_group=False, push_name="Alice")
                for _ in range(2):
                    client.actions.put(lambda emit, event=event: emit(event))
                fresh = bridge.IncomingText(id=f"3EB0NEW{run}", chat=PEER, sender=PEER, text=f"new {run}")
                client.actions.put(lambda emit, fresh=fresh: emit(fresh))
                await whatsapp.wait_sent(run + 2)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    texts = [text.rsplit("You said: ", 1)[-1] for _, text in whatsapp.sent]
    assert texts == ["once", "new 0", "new 1"]


async def test_a_resumed_message_counts_an_attempt_only_while_its_turn_runs(tmp_path, monkeypatch):
    # Two messages left unfinished by a kill -9, each once more and it is dead-lettered. With one turn at a
    # time, the second waits while the first runs: a kill now is no fault of the waiting one, so its
    # attempts must not have moved (counted at hand-over, it was dead-lettered by the next start
    # although its turn never ran).
    from moltbot.agents.providers.echo import EchoProvider
    from moltbot.config.model import AgentDefaults, AgentsConfig, SessionConfig

    for chat, message_id in ((42, "81"), (43, "82")):
        message = InboundMessage(channel="telegram", account_id="default", sender_id=str(chat),
                                 chat_id=str(chat), text=f"left by a kill in {chat}", message_id=message_id)
        db = delivery_db(tmp_path)
        db.claim("telegram", "default", message.dedupe_key, encode_message(message), wall_ms())
        for _ in range(MAX_ATTEMPTS - 1):
            db.count_attempt("telegram", "default", message.dedupe_key, wall_ms())
        db.close()
    hold, real = trio.Event(), EchoProvider.stream

    async def held(self, request):
        await hold.wait()
        async for chunk in real(self, request):
            yield chunk

    monkeypatch.setattr(EchoProvider, "stream", held)

    def attempts() -> dict[str, int]:
        return {r.message_key: r.attempts for r in delivery_db(tmp_path).unfinished()}

    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            config = attrs.evolve(telegram_config(tmp_path, fake, dm_policy="open"),
                                  agents=AgentsConfig(defaults=AgentDefaults(max_concurrent=1)),
                                  session=SessionConfig(dm_scope="per-channel-peer"))
            async with open_gateway(config, port=0, env={}) as gateway:
                runs = gateway.runtime.agents.runs
                while sorted(r.status for r in runs.values()) != ["queued", "running"]:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                running = next(r for r in runs.values() if r.status == "running").session_key
                while len(attempts()) == 2 and MAX_ATTEMPTS not in attempts().values():  # noqa: ASYNC110
                    await trio.sleep(0.01)  # the running one's count is written (a kill now counts for it)
                during = attempts()
                hold.set()
                await bot.wait_sent(2)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
                await gateway.runtime.channels.dispatcher.wait_handled(2)
    waiting = "43/82" if running.endswith("42") else "42/81"
    ran = "42/81" if waiting == "43/82" else "43/82"
    assert during == {ran: MAX_ATTEMPTS, waiting: MAX_ATTEMPTS - 1}
    assert sorted(replies(bot)) == ["left by a kill in 42", "left by a kill in 43"]
    assert delivery_db(tmp_path).unfinished() == [] and delivery_db(tmp_path).dead_receipts() == []

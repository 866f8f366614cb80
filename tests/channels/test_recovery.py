"""Channel-scoped recovery end to end: a real gateway on port 0, the fake Telegram Bot API (and the fake
WhatsApp backend beside it): the backoff ladder, "stalled", a silent connection restarted, and never a
gateway restart for one channel."""

from __future__ import annotations

import attrs
import pytest
import trio

from moltbot.channels import liveness
from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff
from moltbot.channels.telegram import channel as telegram_channel
from moltbot.channels.telegram import poller
from moltbot.channels.whatsapp import bridge
from moltbot.client import open_gateway_client
from moltbot.config.model import WhatsAppConfig
from moltbot.gateway.app import open_gateway
from tests.channels.test_telegram_gateway import BOT, telegram_config
from tests.channels.test_whatsapp import wait_until
from tests.conftest import TOKEN
from tests.fakes.telegram import open_fake_telegram
from tests.fakes.whatsapp import FakeWhatsApp, link


@pytest.fixture(autouse=True)
def fast_recovery(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.0))
    monkeypatch.setattr(liveness, "STALL_ATTEMPTS", 3)
    monkeypatch.setattr(liveness, "CHECK_SECONDS", 0.1)


def telegram_row(status: dict) -> dict:
    return status["channelAccounts"]["telegram"][0]


async def test_a_failing_account_climbs_the_ladder_stalls_and_recovers_without_touching_the_rest(tmp_path,
                                                                                               monkeypatch):
    whatsapp = FakeWhatsApp()
    monkeypatch.setattr(bridge, "BACKEND", whatsapp)
    link(tmp_path / "credentials" / "whatsapp" / "default")
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            for _ in range(1000):
                bot.fail("getMe", 502, "Bad Gateway")
            config = telegram_config(tmp_path, fake, dm_policy="open")
            config = attrs.evolve(config, channels=attrs.evolve(config.channels, whatsapp=WhatsAppConfig()))
            async with open_gateway(config, port=0, env={}) as gateway:
                runtime, manager = gateway.runtime, gateway.runtime.channels
                await wait_until(lambda: manager.statuses["whatsapp"]["default"].connected)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    await wait_until(lambda: len(bot.method_calls("getMe")) >= 2)
                    climbing = telegram_row(await client.call("channels.status", {}))
                    await wait_until(lambda: len(bot.method_calls("getMe")) >= 5)
                    stalled = telegram_row(await client.call("channels.status", {}))
                    lines = (await client.call("status", {}))["channelSummary"]
                    bot.failures.clear()
                    await wait_until(lambda: manager.statuses["telegram"]["default"].connected)
                    bot.push_message(chat_id=42, user_id=42, text="back?")
                    await bot.wait_sent(1)
                    recovered = telegram_row(await client.call("channels.status", {}))
                assert gateway.runtime is runtime  # one channel's trouble never restarted the gateway
                whatsapp_child = manager.slots[("whatsapp", "default")].child
                assert (whatsapp_child.starts, whatsapp_child.state) == (1, "running")
                assert manager.statuses["whatsapp"]["default"].connected
    assert climbing["healthState"] in ("reconnecting", "stalled") and climbing["reconnectAttempts"] >= 1
    assert climbing["lastError"] == "telegram 502: Bad Gateway"
    assert stalled["healthState"] == "stalled" and stalled["stalledSince"] > 0
    assert stalled["reconnectAttempts"] > 3 and stalled["connected"] is False
    assert "Telegram: error: telegram 502: Bad Gateway (stalled after" in lines[0]
    assert recovered["healthState"] == "connected" and "stalledSince" not in recovered
    assert recovered["lastTransportActivityAt"] >= stalled["stalledSince"]


async def test_a_silent_long_poll_is_restarted_by_liveness_alone(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(poller, "POLL_TIMEOUT", 1)
    monkeypatch.setattr(telegram_channel, "SILENCE_MARGIN", 1.0)
    with trio.fail_after(30):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(telegram_config(tmp_path, fake, dm_policy="open"), port=0, env={}) as gateway:
                runtime, manager = gateway.runtime, gateway.runtime.channels
                await wait_until(lambda: manager.statuses["telegram"]["default"].connected)
                bot.stall_polls = True  # the socket stays open and nothing comes back
                await wait_until(lambda: len(bot.method_calls("getMe")) >= 2)  # the account was started again
                bot.stall_polls = False
                bot._changed()
                bot.push_message(chat_id=42, user_id=42, text="still here?")
                await bot.wait_sent(1)
                assert gateway.runtime is runtime
    assert any("telegram:default no traffic for" in r.getMessage() for r in caplog.records)
    assert bot.conflicts == 0  # the silent poll was closed before the new one started

"""Cron delivery through the channels: a job's output reaches Telegram, chunked, to an
explicit target or to where the agent's main session last talked; failures are named in the run log."""

from __future__ import annotations

import pytest
import trio

from moltbot.agents.providers.echo import PREFIX
from moltbot.client import open_gateway_client
from moltbot.config.model import AuthConfig, ChannelsConfig, Config, GatewayConfig, TelegramConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.telegram import open_fake_telegram

BOT = "111:AAA-test-token"


def config_for(tmp_path, fake, **account) -> Config:
    return Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                  channels=ChannelsConfig(telegram=TelegramConfig(bot_token=BOT, api_root=fake.url, dm_policy="open",
                                                                  **account)))


async def run_job(client, payload: dict) -> tuple[dict, dict]:
    """Add an isolated job with ``payload``, force a run, return (job, its run-log entry)."""
    job = await client.call("cron.add", {"name": "digest", "schedule": {"kind": "every", "everyMs": 3_600_000},
                                         "payload": {"kind": "agentTurn", **payload}})
    await client.call("cron.run", {"id": job["id"], "mode": "force"})
    (entry,) = (await client.call("cron.runs", {"id": job["id"]}))["entries"]
    return job, entry


async def test_last_delivers_to_where_the_main_session_last_talked_chunked(tmp_path):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(config_for(tmp_path, fake, text_chunk_limit=40), port=0, env={}) as gateway:
                bot.push_message(chat_id=42, user_id=42, text="hi")
                await bot.wait_sent(1)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
                replied = len(bot.sent)  # the reply to "hi", chunked too
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    job, entry = await run_job(client, {"message": "digest", "deliver": True})
    delivered = bot.sent[replied:]
    assert (entry["status"], entry["deliveryStatus"]) == ("ok", "delivered")
    assert len(delivered) > 1 and all(len(m["text"]) <= 40 and m["chat_id"] == 42 for m in delivered)
    expected = f"{PREFIX}[cron:{job['id']} digest] digest"
    assert "".join(m["text"] for m in delivered).replace(" ", "") == expected.replace(" ", "")


async def test_an_explicit_target_with_a_topic_is_delivered(tmp_path):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(config_for(tmp_path, fake), port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    _, entry = await run_job(client, {"message": "digest", "channel": "telegram", "to": "-100:topic:7"})
    assert (entry["status"], entry["deliveryStatus"]) == ("ok", "delivered")
    assert (bot.sent[0]["chat_id"], bot.sent[0]["message_thread_id"]) == (-100, 7)


@pytest.mark.parametrize(("payload", "error"), [
    ({"channel": "whatsapp", "to": "+15550001"}, "whatsapp account default is not configured"),
    ({"channel": "telegram", "to": "42:topic:general"}, "invalid telegram target: 42:topic:general"),
    ({"deliver": True}, 'channel "last": session agent:main:main has not talked on a channel yet'),
    ({"channel": "telegram", "deliver": True}, "no delivery target: payload.to is not set"),
])
async def test_an_undeliverable_job_fails_with_the_reason_in_its_run_log(tmp_path, payload, error):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(config_for(tmp_path, fake), port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    _, entry = await run_job(client, {"message": "digest", **payload})
                    _, best_effort = await run_job(client, {"message": "digest", "bestEffortDeliver": True,
                                                            **payload})
    assert entry["status"] == "error" and entry["deliveryStatus"] == "not-delivered"
    assert entry["deliveryError"].startswith(error) and entry["error"] == f"delivery failed: {entry['deliveryError']}"
    assert (best_effort["status"], best_effort["deliveryStatus"]) == ("ok", "not-delivered")
    assert bot.sent == []


async def test_a_jobs_model_overrides_the_agents(tmp_path):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            bot = fake.bot(BOT)
            async with open_gateway(config_for(tmp_path, fake), port=0, env={}) as gateway:
                await bot.wait_for(lambda: bot.polls_in_flight == 1)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    _, echoed = await run_job(client, {"message": "digest", "model": "echo"})
                    _, missing = await run_job(client, {"message": "digest", "model": "nowhere/model-x"})
    assert echoed["status"] == "ok"
    assert missing["status"] == "error" and "nowhere" in missing["error"]

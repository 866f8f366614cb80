"""Discord end to end: a real gateway on port 0 with its Discord account on the fake Gateway + REST API
(``tests/fakes/discord.py``), the echo agent answering."""

from __future__ import annotations

import re

import attrs
import pytest
import trio

from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff, wall_ms
from moltbot.channels.discord import gateway as gateway_module
from moltbot.channels.discord.channel import nonce_for
from moltbot.channels.pairing import PairingStore
from moltbot.client import open_gateway_client
from moltbot.config.model import (
    AgentEntry,
    AgentsConfig,
    AuthConfig,
    Binding,
    BindingMatch,
    ChannelsConfig,
    Config,
    DiscordChannelRule,
    DiscordConfig,
    DiscordGuild,
    GatewayConfig,
)
from moltbot.delivery import outbox as outbox_module
from moltbot.delivery.store import DB_NAME, DeliveryDB
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.discord import BOT_ID, open_fake_discord

BOT_TOKEN = "MTAw.discord-test.token"
USER = "300000000000000001"
OTHER = "300000000000000002"
DM = "400000000000000001"
GUILD, GENERAL, RANDOM, THREAD = (
    "500000000000000001",
    "600000000000000001",
    "600000000000000002",
    "700000000000000001",
)
INTENTS = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.1))
    monkeypatch.setattr(outbox_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.0))
    monkeypatch.setattr(gateway_module, "INVALID_SESSION_DELAY", (0.0, 0.01))


def discord_config(tmp_path, fake, **account) -> Config:
    account.setdefault("token", BOT_TOKEN)
    account.setdefault("dm_policy", "allowlist")
    account.setdefault("allow_from", [USER])
    return Config(
        gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)),
        state_dir=tmp_path,
        channels=ChannelsConfig(discord=DiscordConfig(api_base=fake.api_base, **account)),
    )


def world(fake) -> None:
    fake.channels[DM] = {"id": DM, "type": 1}
    fake.add_guild(GUILD, "Friends", {GENERAL: "general", RANDOM: "random"}, {THREAD: ("plans", GENERAL)})


async def connected(gateway, fake, count: int = 1) -> None:
    """The account is connected on its ``count``-th identified session (READY and GUILD_CREATE handled)."""
    status = gateway.runtime.channels.statuses["discord"]["default"]
    await fake.wait_for(lambda: len(fake.sessions) >= count and fake.live and fake.live[-1].session)
    while not status.connected:  # noqa: ASYNC110 (poll with the test's deadline)
        await trio.sleep(0.005)


def said(message) -> str:
    return message["content"].rsplit("You said: ", 1)[-1]


async def test_a_dm_reaches_the_agent_and_the_reply_is_delivered_once_with_a_nonce(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            config = discord_config(tmp_path, fake, reply_to_mode="first")
            async with open_gateway(config, port=0, env={}) as gateway:
                await connected(gateway, fake)
                sent = fake.push_message(channel_id=DM, author=USER, content="hello bot")
                fake.push_message(channel_id=DM, author=OTHER, content="not allowed")
                await fake.wait_for(lambda: fake.messages_in(DM))
                await gateway.runtime.channels.dispatcher.wait_handled(2)
                entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
    identify = fake.identifies[0]
    assert identify["token"] == BOT_TOKEN and identify["intents"] == INTENTS
    [reply] = fake.messages
    assert said(reply) == "hello bot" and reply["channel_id"] == DM
    assert reply["message_reference"] == {"message_id": sent["id"], "fail_if_not_exists": False}
    assert reply["nonce"] and len(reply["nonce"]) <= 25
    assert reply["allowed_mentions"]["parse"] == ["users"]  # never @everyone from agent text
    assert fake.typing == [DM]
    assert (entry["lastChannel"], entry["lastTo"]) == ("discord", DM)


async def test_guild_messages_follow_the_allowlists_mention_gating_threads_and_bindings(tmp_path):
    guilds = {
        GUILD: DiscordGuild(
            channels={"general": DiscordChannelRule(allow=True), RANDOM: DiscordChannelRule(allow=False)}
        )
    }
    agents = AgentsConfig(entries=[AgentEntry(id="main", default=True), AgentEntry(id="friends")])
    bindings = [Binding(agent_id="friends", match=BindingMatch(channel="discord", guild_id=GUILD))]
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            config = attrs.evolve(
                discord_config(tmp_path, fake, guilds=guilds, reply_to_mode="off"),
                agents=agents,
                bindings=bindings,
            )
            async with open_gateway(config, port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.push_message(channel_id=GENERAL, guild_id=GUILD, author=OTHER, content="no mention")
                fake.push_message(
                    channel_id=RANDOM,
                    guild_id=GUILD,
                    author=OTHER,
                    content=f"<@{BOT_ID}> denied",
                    mentions_bot=True,
                )
                fake.push_message(
                    channel_id=GENERAL,
                    guild_id=GUILD,
                    author=OTHER,
                    content=f"<@{BOT_ID}> in general",
                    mentions_bot=True,
                )
                fake.push_message(
                    channel_id=THREAD,
                    guild_id=GUILD,
                    author=OTHER,
                    content=f"<@{BOT_ID}> in thread",
                    mentions_bot=True,
                )
                fake.push_message(
                    channel_id=GENERAL,
                    guild_id="500000000000000009",
                    author=OTHER,
                    content=f"<@{BOT_ID}> other guild",
                    mentions_bot=True,
                )
                await gateway.runtime.channels.dispatcher.wait_handled(5)
                await fake.wait_for(lambda: len(fake.messages) >= 2)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
                entries = gateway.runtime.agents.store("friends").entries
    assert {m["channel_id"]: said(m) for m in fake.messages} == {GENERAL: "in general", THREAD: "in thread"}
    assert all(m["message_reference"] is None for m in fake.messages)
    assert f"agent:friends:discord:channel:{GENERAL}" in entries
    assert (
        entries[f"agent:friends:discord:channel:{GENERAL}:thread:{THREAD}"]["lastTo"]
        == f"{GENERAL}:topic:{THREAD}"
    )


async def test_heartbeats_are_jittered_and_acked_and_a_missing_ack_resumes_on_the_resume_url(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            fake.heartbeat_ms = 40
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                await fake.wait_for(lambda: len(fake.heartbeats) >= 3)
                session = fake.live[-1].session
                fake.ack_heartbeats = False
                await fake.wait_for(lambda: fake.resumes)
                fake.ack_heartbeats = True
                await fake.wait_for(
                    lambda: fake.live and fake.live[-1].session == session and len(fake.paths) == 2
                )
                fake.push_message(channel_id=DM, author=USER, content="after resume")
                await fake.wait_for(lambda: fake.messages)
    # Each carries the last sequence number (null only before the first dispatch).
    assert all(d is None or isinstance(d, int) for _, d in fake.heartbeats) and isinstance(
        fake.heartbeats[-1][1], int
    )
    assert 4000 in fake.closes  # closed so that the session stays resumable
    assert fake.resumes[0]["session_id"] == session and fake.resumes[0]["seq"] >= 2
    assert fake.paths[1].startswith("/resume") and len(fake.identifies) == 1
    assert said(fake.messages[0]) == "after resume"


async def test_op7_resumes_and_a_replayed_message_starts_no_second_turn(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                first = fake.push_message(channel_id=DM, author=USER, content="once")
                await fake.wait_for(lambda: fake.messages)
                fake.reconnect()
                await fake.wait_for(lambda: fake.resumes and fake.live and fake.live[-1].session)
                fake.dispatch("MESSAGE_CREATE", first)  # Discord replays an event the client had
                fake.push_message(channel_id=DM, author=USER, content="twice")
                await fake.wait_for(lambda: len(fake.messages) >= 2)
                await gateway.runtime.channels.dispatcher.wait_handled(2)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    assert [said(m) for m in fake.messages] == ["once", "twice"]
    assert len(fake.identifies) == 1 and len(fake.resumes) == 1


async def test_op9_resumes_when_resumable_and_identifies_again_when_not(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.invalidate(resumable=True)
                await fake.wait_for(lambda: fake.resumes)
                await connected(gateway, fake)
                fake.invalidate(resumable=False)
                await fake.wait_for(lambda: len(fake.identifies) == 2)
                await connected(gateway, fake, count=2)
                fake.push_message(channel_id=DM, author=USER, content="new session")
                await fake.wait_for(lambda: fake.messages)
    assert len(fake.resumes) == 1 and said(fake.messages[0]) == "new session"


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("4004", "closed 4004: authentication failed"),
        ("4014", "closed 4014: disallowed intents"),
        ("rest-401", "authentication failed"),
    ],
)
async def test_a_fatal_close_or_a_refused_token_is_an_account_error_and_is_not_retried(tmp_path, case, words):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            fake.deny_intents, fake.revoke_gateway = case == "4014", case == "4004"
            token = "MTAw.wrong.token" if case == "rest-401" else BOT_TOKEN
            config = discord_config(tmp_path, fake, token=token)
            async with open_gateway(config, port=0, env={}) as gateway:
                slot = gateway.runtime.channels.slots[("discord", "default")]
                while slot.child.state != "failed":  # noqa: ASYNC110
                    await trio.sleep(0.005)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    status = await client.call("channels.status", {})
    row = status["channelAccounts"]["discord"][0]
    assert words in row["lastError"]
    assert row["healthState"] == "failed" and row["connected"] is False
    assert len(fake.identifies) == (0 if case == "rest-401" else 1)  # tried once, never again
    assert "wrong.token" not in str(status) and BOT_TOKEN not in str(status)


async def test_a_long_reply_is_chunked_at_2000_characters_each_piece_once(tmp_path):
    text = " ".join(f"word{i}" for i in range(900))  # ~7,000 characters
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            config = discord_config(tmp_path, fake, reply_to_mode="first")
            async with open_gateway(config, port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.push_message(channel_id=DM, author=USER, content=text)
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    pieces = fake.messages
    assert len(pieces) >= 4 and all(len(p["content"]) <= 2000 for p in pieces)
    assert " ".join(p["content"] for p in pieces).endswith(text)
    assert len({p["nonce"] for p in pieces}) == len(pieces)
    assert pieces[0]["message_reference"] and not any(p["message_reference"] for p in pieces[1:])


async def test_rate_limits_are_honoured_429_retry_after_and_the_bucket_headers(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            fake.bucket_size, fake.bucket_window = 2, 0.25
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.rate_limit_next(0.2)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    first = await client.call(
                        "send", {"to": GENERAL, "message": "m0", "channel": "discord", "idempotencyKey": "k0"}
                    )
                    async with trio.open_nursery() as nursery:
                        for i in range(1, 6):
                            nursery.start_soon(
                                client.call,
                                "send",
                                {
                                    "to": GENERAL,
                                    "message": f"m{i}",
                                    "channel": "discord",
                                    "idempotencyKey": f"k{i}",
                                },
                            )
    times = [t for t, path in fake.request_times if path == f"/channels/{GENERAL}/messages"]
    assert times[1] - times[0] >= 0.2  # retried after retry_after, not before
    assert sorted(m["content"] for m in fake.messages) == [f"m{i}" for i in range(6)]
    assert fake.rate_limited == 1  # the scripted one: the bucket headers were waited on, never exceeded
    assert first["messageId"] == fake.messages[0]["id"] and first["channel"] == "discord"


async def test_a_send_whose_answer_was_lost_is_retried_with_its_nonce_and_not_duplicated(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.drop_next_create()
                fake.push_message(channel_id=DM, author=USER, content="lost answer")
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    posts = [r for r in fake.requests if r[:2] == ("POST", f"/channels/{DM}/messages")]
    assert len(posts) == 2 and posts[0][2]["nonce"] == posts[1][2]["nonce"]
    assert [said(m) for m in fake.messages] == ["lost answer"]


async def test_a_reply_sent_before_a_crash_but_not_recorded_is_delivered_once_after_the_restart(tmp_path):
    key = f"reply:discord:default:{DM}/1234"
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            db = DeliveryDB(tmp_path / "delivery" / DB_NAME)  # the dead process: written, then sent ...
            db.enqueue(
                key=key,
                kind="reply",
                channel="discord",
                account_id="default",
                target=DM,
                text="You said: before the crash",
                reply_to=None,
                now_ms=wall_ms(),
            )
            db.close()
            existing = {
                "id": "1300000000000000001",
                "channel_id": DM,
                "content": "You said: before the crash",
                "nonce": nonce_for(f"{key}#0"),
            }
            fake.messages.append(existing)  # ... and Discord has it; the outcome was never recorded
            fake._nonces[(DM, existing["nonce"])] = existing
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    row = DeliveryDB(tmp_path / "delivery" / DB_NAME).outbox_row(key)
    assert row is not None and (row.state, row.message_id) == ("delivered", existing["id"])
    assert fake.messages == [existing]


async def test_a_message_is_handled_once_across_an_in_process_restart(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                first = fake.push_message(channel_id=DM, author=USER, content="before restart")
                await fake.wait_for(lambda: fake.messages)
                done = gateway.next_restart()
                gateway.request_restart("test: in-process restart")
                await done.wait()
                await fake.wait_for(lambda: fake.resumes and fake.live and fake.live[-1].session)
                await connected(gateway, fake)
                fake.dispatch("MESSAGE_CREATE", first)  # delivered again to the resumed session
                fake.push_message(channel_id=DM, author=USER, content="after restart")
                await fake.wait_for(lambda: len(fake.messages) >= 2)
                # The new runtime's count: the duplicate never reaches its dispatcher.
                await gateway.runtime.channels.dispatcher.wait_handled(1)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    assert [said(m) for m in fake.messages] == ["before restart", "after restart"]
    assert fake.max_live == 1  # never two sockets for one bot
    assert len(fake.identifies) == 1 and 4000 in fake.closes  # the stop kept the session resumable


async def test_a_restarted_gateway_resumes_its_session_and_gets_what_came_while_it_was_down(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            config = discord_config(tmp_path, fake)
            async with open_gateway(config, port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.push_message(channel_id=DM, author=USER, content="first run")
                await fake.wait_for(lambda: fake.messages)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
                session = fake.live[-1].session
            await fake.wait_for(lambda: not fake.live)
            missed = fake.message_data(channel_id=DM, author=USER, content="while down")
            fake.queue_event(session, "MESSAGE_CREATE", missed)  # Discord keeps it for a resume
            async with open_gateway(config, port=0, env={}) as gateway:  # a new process, in effect
                await fake.wait_for(lambda: fake.resumes and fake.live and fake.live[-1].session)
                await fake.wait_for(lambda: len(fake.messages) >= 2)
                await gateway.runtime.channels.delivery.outbox.wait_idle()
    saved = tmp_path / "credentials" / "discord-default-session.json"
    assert saved.stat().st_mode & 0o777 == 0o600 and BOT_TOKEN not in saved.read_text()
    assert [said(m) for m in fake.messages] == ["first run", "while down"]
    assert len(fake.identifies) == 1 and fake.resumes[0]["session_id"] == session
    assert fake.paths[1].startswith("/resume")


async def test_one_unreadable_event_is_dead_lettered_and_the_channel_goes_on(tmp_path):
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            async with open_gateway(discord_config(tmp_path, fake), port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.dispatch(
                    "MESSAGE_CREATE", {"id": "800000000000000001", "channel_id": DM, "content": "x"}
                )
                fake.dispatch("MESSAGE_CREATE", ["not", "an", "object"])
                fake.push_message(channel_id=DM, author=USER, content="still here")
                await fake.wait_for(lambda: fake.messages)
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    status = await client.call("channels.status", {"probe": True})
    assert said(fake.messages[0]) == "still here"
    row = status["channelAccounts"]["discord"][0]
    assert row["inboundDeadLetters"] == 2 and row["connected"] and row["healthState"] == "connected"
    assert row["tokenSource"] == "config" and row["dmPolicy"] == "allowlist"
    assert row["probe"]["ok"] and row["probe"]["bot"]["id"] == BOT_ID
    assert "discord" in status["channelOrder"] and status["channelLabels"]["discord"] == "Discord"
    dead = DeliveryDB(tmp_path / "delivery" / DB_NAME).dead_receipts()
    assert sorted(d["messageKey"] for d in dead)[0] == "message:800000000000000001"
    assert sorted(d["messageKey"] for d in dead)[1].startswith("unreadable:")
    assert len(fake.identifies) == 1


async def test_an_unknown_dm_sender_pairs_and_the_approval_reaches_their_dm(tmp_path, monkeypatch):
    monkeypatch.setattr(manager_module, "APPROVAL_CHECK_SECONDS", 0.05)
    with trio.fail_after(15):
        async with open_fake_discord(BOT_TOKEN) as fake:
            world(fake)
            config = discord_config(tmp_path, fake, dm_policy=None, allow_from=None)  # the default: pairing
            async with open_gateway(config, port=0, env={}) as gateway:
                await connected(gateway, fake)
                fake.push_message(channel_id=DM, author=OTHER, content="who are you")
                await fake.wait_for(lambda: fake.messages)
                code = re.search(r"Pairing code: ([A-Z0-9]{8})", fake.messages[0]["content"]).group(1)
                assert PairingStore(tmp_path, "discord").approve(code) == OTHER
                await fake.wait_for(lambda: len(fake.messages) >= 2)  # to the user id: no such channel → DM
                fake.push_message(channel_id=DM, author=OTHER, content="now?")
                await fake.wait_for(lambda: len(fake.messages) >= 3)
    assert (
        fake.messages[0]["channel_id"] == DM
        and f"moltbot pairing approve discord {code}" in (fake.messages[0]["content"])
    )
    assert "approved" in fake.messages[1]["content"]
    assert fake.messages[1]["channel_id"] != DM and (
        "POST",
        "/users/@me/channels",
        {"recipient_id": OTHER},
    ) in (fake.requests)
    assert said(fake.messages[2]) == "now?"

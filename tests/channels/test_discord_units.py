"""Discord's pure parts: who is answered where (``policy``), targets, nonces, rate-limit routes."""

from __future__ import annotations

import pytest

from moltbot.channels.base import DeliveryError, InboundMessage
from moltbot.channels.discord import policy
from moltbot.channels.discord.channel import nonce_for, parse_target, resolve_token
from moltbot.channels.discord.rest import route_key
from moltbot.config.model import DiscordAccount, DiscordChannelRule, DiscordDm, DiscordGuild

GUILD, GENERAL, THREAD = "500000000000000001", "600000000000000001", "700000000000000001"
NAMES = {GUILD: "Friends", GENERAL: "general", THREAD: "plans"}


def guild_message(
    chat: str = GENERAL,
    *,
    thread: str | None = None,
    mentioned: bool = True,
    sender: str = "42",
    guild: str = GUILD,
) -> InboundMessage:
    return InboundMessage(
        channel="discord",
        account_id="default",
        sender_id=sender,
        chat_id=chat,
        text="hi",
        chat_type="channel",
        thread_id=thread,
        message_id="1",
        mentioned=mentioned,
        sender_name="alice",
        guild_id=guild,
    )


def dm(sender: str = "42") -> InboundMessage:
    return InboundMessage(
        channel="discord",
        account_id="default",
        sender_id=sender,
        chat_id="9",
        text="hi",
        message_id="1",
        sender_name="alice",
    )


def decide(message: InboundMessage, **account) -> str:
    return policy.decide(message, policy.effective(DiscordAccount(**account)), set(), NAMES)


def test_dm_policy_reads_the_account_keys_then_the_older_dm_block():
    assert decide(dm()) == "pair"  # default pairing
    assert decide(dm(), dm_policy="allowlist", allow_from=["<@42>"]) == "answer"
    assert decide(dm(), dm_policy="allowlist", allow_from=["discord:7"]) == "ignore"
    assert decide(dm(), dm=DiscordDm(policy="allowlist", allow_from=["user:42"])) == "answer"
    assert decide(dm(), dm_policy="open", dm=DiscordDm(enabled=False)) == "ignore"
    assert decide(dm(), dm_policy="allowlist") == "ignore"  # an empty allowlist admits nobody


def test_guilds_channels_threads_users_and_mentions():
    listed = {GUILD: DiscordGuild(channels={"#general": DiscordChannelRule(allow=True)})}
    assert decide(guild_message()) == "ignore"  # allowlist without guilds
    assert decide(guild_message(), guilds={"*": DiscordGuild()}) == "answer"
    assert decide(guild_message(mentioned=False), guilds={"*": DiscordGuild()}) == "ignore"
    assert (
        decide(guild_message(mentioned=False), guilds={"friends": DiscordGuild(require_mention=False)})
        == "answer"
    )
    assert decide(guild_message(), guilds=listed) == "answer"  # by channel name
    assert decide(guild_message("600000000000000002"), guilds=listed) == "ignore"  # not listed
    assert decide(guild_message(thread=THREAD), guilds=listed) == "answer"  # follows its parent
    own = {
        GUILD: DiscordGuild(
            channels={GENERAL: DiscordChannelRule(allow=True), THREAD: DiscordChannelRule(enabled=False)}
        )
    }
    assert decide(guild_message(thread=THREAD), guilds=own) == "ignore"  # its own entry wins
    users = {GUILD: DiscordGuild(users=["alice"], channels={GENERAL: DiscordChannelRule(users=["7"])})}
    assert decide(guild_message(), guilds=users) == "ignore"  # the channel's users over the guild's
    assert decide(guild_message(), guilds={GUILD: DiscordGuild(users=["ALICE"])}) == "answer"
    assert decide(guild_message(), group_policy="open") == "answer"
    assert decide(guild_message(), group_policy="disabled", guilds={"*": DiscordGuild()}) == "ignore"
    prompt = {
        GUILD: DiscordGuild(
            system_prompt="Guild.", channels={GENERAL: DiscordChannelRule(system_prompt="Chan.")}
        )
    }
    assert policy.place(
        guild_message(), policy.effective(DiscordAccount(guilds=prompt)), NAMES
    ).system_prompt == ("Guild.\n\nChan.")


def test_targets_nonces_routes_and_tokens():
    assert parse_target("123456789012345678") == ("channel?", "123456789012345678")
    assert parse_target("user:42") == ("user", "42") and parse_target("<@!42>") == ("user", "42")
    assert parse_target("discord:channel:77") == ("channel", "77")
    assert parse_target("600:topic:700") == ("channel", "700") and parse_target("600:thread:701") == (
        "channel",
        "701",
    )
    with pytest.raises(DeliveryError) as bad:
        parse_target("general")
    assert bad.value.permanent
    assert nonce_for("reply:x#0") == nonce_for("reply:x#0") != nonce_for("reply:x#1")
    assert len(nonce_for("k" * 5000)) <= 25
    assert route_key("POST", "/channels/123456789/messages") == "POST /channels/123456789/messages"
    assert (
        route_key("PATCH", "/channels/123456789/messages/987654321")
        == "PATCH /channels/123456789/messages/{id}"
    )
    assert resolve_token(DiscordAccount(token=" Bot abc "), "default", {}) == ("abc", "config")
    assert resolve_token(DiscordAccount(), "default", {"DISCORD_BOT_TOKEN": "env"}) == ("env", "env")
    assert resolve_token(DiscordAccount(), "work", {"DISCORD_BOT_TOKEN": "env"}) == (None, "none")

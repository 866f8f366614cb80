"""Pure channel pieces: the chunker, dm/group policy, session keys, pairing codes, supervisor backoff."""

from __future__ import annotations

import random
from types import SimpleNamespace

import attrs
import pytest
import trio

from moltbot.channels.base import Backoff, InboundMessage, wall_ms
from moltbot.channels.chunk import chunk_text
from moltbot.channels.manager import ChannelManager
from moltbot.channels.pairing import ALPHABET, MAX_PENDING, TTL_MS, PairingStore
from moltbot.channels.routing import decide, group_settings, session_key
from moltbot.channels.telegram.channel import parse_target
from moltbot.config.load import ConfigError, parse_config
from moltbot.config.model import Config, TelegramAccount, TelegramGroup, TelegramTopic


def test_chunks_split_on_paragraph_then_line_then_space():
    text = "para one\n\npara two is longer\nwith a second line"
    assert chunk_text(text, 20) == ["para one", "para two is longer", "with a second line"]
    assert chunk_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]
    assert all(len(piece) <= 7 for piece in chunk_text("the quick brown fox jumps", 7))
    assert chunk_text("short", 4000) == ["short"]


def dm(sender="42", text="hi", **kwargs):
    return InboundMessage(channel="telegram", account_id="default", sender_id=sender, chat_id=sender,
                          text=text, **kwargs)


def test_allowlist_with_allow_from_unset_answers_nobody():
    assert decide(dm(), TelegramAccount(dm_policy="allowlist"), set()) == "ignore"
    assert decide(dm(), TelegramAccount(dm_policy="allowlist", allow_from=["telegram:42"]), set()) == "answer"


def test_pairing_open_and_disabled_policies():
    assert decide(dm(), TelegramAccount(dm_policy="pairing"), set()) == "pair"
    assert decide(dm(), TelegramAccount(dm_policy="pairing"), {"42"}) == "answer"
    assert decide(dm(), TelegramAccount(dm_policy="open"), set()) == "answer"
    assert decide(dm(), TelegramAccount(dm_policy="disabled", allow_from=["42"]), set()) == "ignore"


def test_groups_need_an_allowed_group_and_a_mention():
    account = TelegramAccount(groups={"-5": {}})
    message = InboundMessage(channel="telegram", account_id="default", sender_id="1", chat_id="-5", text="x",
                             chat_type="group")
    assert decide(message, account, set()) == "ignore"  # no mention
    mentioned = attrs.evolve(message, mentioned=True)
    assert decide(mentioned, account, set()) == "answer"
    assert decide(mentioned, TelegramAccount(), set()) == "ignore"  # group not in the allowlist
    assert decide(message, TelegramAccount(groups={"*": {"requireMention": False}}), set()) == "answer"


def test_session_keys_follow_dm_scope_and_group_topics():
    assert session_key(dm(), agent_id="main", main_key="agent:main:main", dm_scope="main") == "agent:main:main"
    assert session_key(dm(), agent_id="main", main_key="m", dm_scope="per-channel-peer") == "agent:main:telegram:dm:42"
    group = InboundMessage(channel="telegram", account_id="default", sender_id="1", chat_id="-100", text="x",
                           chat_type="group", thread_id="3")
    assert session_key(group, agent_id="main", main_key="m", dm_scope="main") == "agent:main:telegram:group:-100:topic:3"


def test_targets_with_forum_topics():
    assert parse_target("-100:topic:7") == ("-100", 7)
    assert parse_target("tg:42") == ("42", None)


def test_pairing_codes_max_three_pending_and_expire(tmp_path):
    store = PairingStore(tmp_path, "telegram")
    start = wall_ms() - TTL_MS
    codes = [store.request(str(sender), now_ms=start)[0] for sender in range(MAX_PENDING)]
    assert all(len(code) == 8 and set(code) <= set(ALPHABET) for code in codes)
    assert store.request("99", now_ms=start) == (None, False)
    assert store.request("0", now_ms=start + 1) == (codes[0], False)
    code, created = store.request("99")  # an hour later the old ones have expired
    assert created and store.approve(code) == "99" and store.allowed() == {"99"}


def test_backoff_grows_exponentially_within_jitter():
    backoff = Backoff(initial=1.0, maximum=10.0, factor=2.0, jitter=0.2)
    rng = random.Random(1)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0)):
        assert 0.8 * base <= backoff.delay(attempt, rng) <= 1.2 * base


class Crashing:
    channel = "telegram"
    text_chunk_limit = 4000

    def __init__(self, starts):
        self.starts = starts

    async def serve(self, inbox, *, task_status=trio.TASK_STATUS_IGNORED):
        self.starts.append(trio.current_time())
        raise RuntimeError("boom")

    async def send(self, target, text, *, reply_to=None):
        raise AssertionError


async def test_supervisor_restarts_a_crashing_account_with_exponential_backoff(autojump_clock):
    runtime = SimpleNamespace(config=Config(), env={},
                              health=SimpleNamespace(mark_stale=lambda: None))
    manager = ChannelManager(runtime)
    manager.backoff = Backoff(initial=1.0, maximum=8.0, factor=2.0, jitter=0.0)
    starts: list[float] = []
    manager._build = lambda *args: Crashing(starts)
    async with trio.open_nursery() as nursery:
        manager._nursery = nursery
        assert await manager._start_account("telegram", "default", TelegramAccount(bot_token="1:x"))
        status = manager.statuses["telegram"]["default"]
        await trio.sleep(20)
        assert status.last_error == "boom" and status.reconnect_attempts >= 4
        assert manager.accounts("telegram")[0]["healthState"] == "reconnecting"
        await trio.sleep(60)  # past the stall threshold: still retried at the top of the ladder
        row = manager.accounts("telegram")[0]
        assert row["healthState"] == "stalled" and row["stalledSince"] and row["lastError"] == "boom"
        assert await manager.stop_account("telegram", "default", "test over")
    assert starts[:5] == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert starts[-1] - starts[-2] == 8.0
    assert status.running is False


def group_message(sender="5", thread=None, mentioned=False):
    return InboundMessage(channel="telegram", account_id="default", sender_id=sender, chat_id="-100", text="x",
                          chat_type="group", thread_id=thread, mentioned=mentioned)


def test_a_groups_allow_from_limits_its_senders_under_every_policy():
    groups = {"-100": TelegramGroup(allow_from=["tg:5"], require_mention=False)}
    for policy in ("open", "allowlist"):
        account = TelegramAccount(group_policy=policy, groups=groups)
        assert decide(group_message("5"), account, set()) == "answer"
        assert decide(group_message("6", mentioned=True), account, set()) == "ignore"
    assert decide(group_message("5"), TelegramAccount(group_policy="disabled", groups=groups), set()) == "ignore"


def test_a_topic_overrides_its_groups_mention_and_senders_and_adds_its_prompt():
    topic = TelegramTopic(require_mention=False, allow_from=[9], system_prompt="Topic rules.")
    account = TelegramAccount(groups={"*": TelegramGroup(system_prompt="Be brief.", topics={"7": topic})})
    assert decide(group_message("9", thread="7"), account, set()) == "answer"
    assert decide(group_message("8", thread="7", mentioned=True), account, set()) == "ignore"
    assert decide(group_message("8", thread="3"), account, set()) == "ignore"  # the group still wants a mention
    assert decide(group_message("8", thread="3", mentioned=True), account, set()) == "answer"
    assert group_settings(group_message(thread="7"), account).system_prompt == "Be brief.\n\nTopic rules."
    assert group_settings(group_message(thread="3"), account).system_prompt == "Be brief."


def test_group_config_is_typed_with_errors_naming_the_key():
    config = parse_config({"channels": {"telegram": {"groups": {"-100": {
        "requireMention": False, "allowFrom": [5, "@alice"], "skills": ["x"],
        "topics": {"7": {"systemPrompt": "Topic rules."}}}}}}})
    group = config.channels.telegram.groups["-100"]
    assert group.require_mention is False and group.topics["7"].system_prompt == "Topic rules."
    assert any("channels.telegram.groups.-100.skills: unknown key" in w for w in config.warnings)
    with pytest.raises(ConfigError, match=r"channels\.telegram\.groups\.-100\.topics\.7\.requireMention: must be a "
                                          r"boolean"):
        parse_config({"channels": {"telegram": {"groups": {"-100": {"topics": {"7": {"requireMention": "no"}}}}}}})

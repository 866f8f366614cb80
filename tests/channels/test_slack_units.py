"""Slack's pure parts: mrkdwn and chunking, the signature check, targets, event mapping, policy view."""

from __future__ import annotations

import pytest

from moltbot.channels.base import DeliveryError
from moltbot.channels.routing import decide, message_peers, resolve_agent
from moltbot.channels.slack.channel import parse_target
from moltbot.channels.slack.events import UnreadableEvent, policy_view, to_inbound
from moltbot.channels.slack.format import chunk_mrkdwn, to_mrkdwn
from moltbot.channels.slack.http_events import sign, signature_ok
from moltbot.config.model import Binding, BindingMatch, BindingPeer, SlackAccount, SlackChannelEntry

# Slack's documented example (api.slack.com "Verifying requests from Slack").
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
            b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
            b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
            b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_the_signature_of_slacks_documented_example_verifies_and_anything_else_does_not():
    assert sign(DOC_SECRET, "1531420618", DOC_BODY) == DOC_SIGNATURE
    now = 1531420618 + 10
    assert signature_ok(DOC_SECRET, "1531420618", DOC_SIGNATURE, DOC_BODY, now=now) is None
    assert signature_ok(DOC_SECRET, "1531420618", DOC_SIGNATURE, DOC_BODY + b"x", now=now) == "signature mismatch"
    assert signature_ok(DOC_SECRET, "1531420618", "v0=é", DOC_BODY, now=now) == "signature mismatch"
    assert "stale" in signature_ok(DOC_SECRET, "1531420618", DOC_SIGNATURE, DOC_BODY, now=1531420618 + 301)
    assert "missing" in signature_ok(DOC_SECRET, None, DOC_SIGNATURE, DOC_BODY, now=now)
    assert "not a number" in signature_ok(DOC_SECRET, "soon", DOC_SIGNATURE, DOC_BODY, now=now)


def test_markdown_becomes_mrkdwn_with_entities_escaped_and_slack_tokens_kept():
    text = "**bold** & ~~gone~~ <b> [docs](https://x.io/a) <@U1> <!here> `a<b` # Title"
    assert to_mrkdwn(text) == ("*bold* &amp; ~gone~ &lt;b&gt; <https://x.io/a|docs> <@U1> <!here> `a&lt;b` "
                               "# Title")
    assert to_mrkdwn("## Heading\n```\nx < y\n```") == "*Heading*\n```\nx &lt; y\n```"


def test_a_long_reply_is_chunked_with_code_fences_balanced_in_every_piece():
    code = "```\n" + "\n".join(f"line {i}" for i in range(400)) + "\n```"
    pieces = chunk_mrkdwn("intro\n\n" + code, 1000)
    assert len(pieces) > 2 and all(len(p) <= 1000 for p in pieces)
    assert all(sum(line.startswith("```") for line in p.split("\n")) % 2 == 0 for p in pieces)
    assert chunk_mrkdwn("x" * 50_000, 100_000)[0] == "x" * 39_992  # never past Slack's 40,000


def test_targets():
    assert parse_target("C1") == ("C1", None)
    assert parse_target("slack:channel:C1:thread:1700000000.000100") == ("C1", "1700000000.000100")
    assert parse_target("user:U1") == ("U1", None)
    assert parse_target("C1:topic:1.2") == ("C1", "1.2")
    for bad in ("", "C1:thread:nope", "two words"):
        with pytest.raises(DeliveryError) as caught:
            parse_target(bad)
        assert caught.value.permanent


def callback(event: dict) -> dict:
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event}


def test_events_that_start_no_turn_and_events_that_cannot_be_read():
    base = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.1"}
    kwargs = {"account_id": "default", "bot_user_id": "UBOT", "bot_id": "B1"}
    assert to_inbound(callback({**base, "subtype": "message_changed"}), **kwargs) is None
    assert to_inbound(callback({**base, "user": "UBOT"}), **kwargs) is None  # our own
    assert to_inbound(callback({**base, "bot_id": "B2"}), **kwargs) is None  # another bot
    assert to_inbound(callback({**base, "bot_id": "B2"}), **kwargs, allow_bots=True) is not None
    assert to_inbound(callback(base), **kwargs, denied=frozenset({"C1"})) is None
    assert to_inbound({"type": "url_verification"}, **kwargs) is None
    message = to_inbound(callback({**base, "text": "<@UBOT> hi there", "thread_ts": "1.0"}), **kwargs)
    assert (message.text, message.mentioned, message.thread_id, message.chat_type, message.team_id) == (
        "hi there", True, "1.0", "channel", "T1")
    assert message.dedupe_key == "C1/1.1"
    assert to_inbound(callback({**base, "channel": "D1"}), **kwargs).chat_type == "direct"
    for broken in ({**base, "ts": 5}, {**base, "text": None}, "not an object"):
        with pytest.raises(UnreadableEvent):
            to_inbound(callback(broken), **kwargs)


def test_the_policy_view_reads_channel_entries_and_the_legacy_dm_block():
    account = SlackAccount(dm={"policy": "open"}, channels={
        "C1": SlackChannelEntry(users=["U1"]), "C2": SlackChannelEntry(require_mention=False),
        "C3": SlackChannelEntry(allow=False)})
    view = policy_view(account)
    assert view.dm_policy == "open" and set(view.groups) == {"C1", "C2"}
    kwargs = {"account_id": "default", "bot_user_id": "UBOT"}

    def verdict(channel: str, user: str, text: str) -> str:
        event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": "1.1"}
        return decide(to_inbound(callback(event), **kwargs), view, set())

    assert verdict("C1", "U1", "<@UBOT> x") == "answer"
    assert verdict("C1", "U2", "<@UBOT> x") == "ignore"  # not in the channel's users
    assert verdict("C1", "U1", "x") == "ignore"  # mention required
    assert verdict("C2", "U9", "x") == "answer"
    assert verdict("C4", "U1", "<@UBOT> x") == "ignore"  # not listed (allowlist)
    assert verdict("D1", "U7", "x") == "answer"  # dm.policy open


def test_bindings_route_a_slack_channel_by_peer_and_a_workspace_by_team():
    bindings = [Binding(agent_id="ops", match=BindingMatch(channel="slack", peer=BindingPeer(kind="channel", id="C1"))),
                Binding(agent_id="work", match=BindingMatch(channel="slack", team_id="T1"))]
    kwargs = {"account_id": "default", "bot_user_id": "UBOT"}

    def agent(channel: str) -> tuple[str, str]:
        event = {"type": "message", "channel": channel, "user": "U1", "text": "x", "ts": "1.1"}
        message = to_inbound(callback(event), **kwargs)
        return resolve_agent(bindings, channel="slack", account_id="default", peers=message_peers(message),
                             team_id=message.team_id, default_agent="main", known_agents=["main", "ops", "work"])

    assert agent("C1") == ("ops", "binding.peer")
    assert agent("C2") == ("work", "binding.team")


def test_the_socket_mode_ticket_never_reaches_a_log_line():
    import logging

    record = logging.LogRecord("trio-websocket", logging.DEBUG, __file__, 1, "Connecting to ws%s://%s:%d%s",
                               ("s", "wss-primary.slack.com", 443, "/link/?ticket=abc-123&app_id=A1"), None)
    for each in logging.getLogger("trio-websocket").filters:
        each.filter(record)
    assert record.getMessage() == "Connecting to wss://wss-primary.slack.com:443/link/?ticket=<redacted>&app_id=A1"

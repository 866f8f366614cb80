"""Slack Events API payloads → ``InboundMessage``, and the account's policy view. Pure.

Which events start a turn: ``message`` without a subtype (or ``thread_broadcast``/``file_share`` with
text) and ``app_mention``. Edits, deletions, joins and bot messages do not (the bot's own messages never;
other bots' only with ``allowBots``). Slack sends one message twice when the bot is mentioned in a
channel it reads (``message`` and ``app_mention``, two ``event_id``s): both carry the channel and the
message's ``ts``, which is the message's identity here (``dedupe_key`` ``<channel>/<ts>``), so the
receipts store starts one turn for the two and for every redelivery of either (Socket Mode retries an
envelope not acknowledged in 3 s; HTTP mode retries with ``X-Slack-Retry-Num``).

Conversation kinds: ``im`` → direct, ``mpim`` → group, ``channel``/``group`` (private channel) →
channel; without ``channel_type`` the id's first letter decides (``D`` direct, else channel), as in
the original. A reply in a thread keeps its ``thread_ts`` as ``thread_id``, so the answer goes to that
thread. The bot is mentioned by ``<@BOTUSERID>`` (``auth.test``'s ``user_id``) in the text, which is
removed before the agent sees it.

``policy_view(account)`` is what ``routing.decide`` reads for a Slack account: ``dmPolicy``/``allowFrom``
(the legacy ``dm.policy``/``dm.allowFrom`` when these are at their defaults) and ``channels.<id>`` as
``groups`` (``users`` → ``allowFrom``, ``requireMention`` defaulting to the account's).
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from ..base import InboundMessage

TEXT_SUBTYPES = (None, "thread_broadcast", "file_share")
MAX_TEXT = 40_000  # Slack's own limit for a message's text


class UnreadableEvent(ValueError):
    """An event this build should understand but cannot read (dead-lettered under its ``event_id``)."""


@attrs.frozen
class SlackPolicy:
    """The fields ``routing.decide`` and the dispatcher read, resolved from one ``SlackAccount``."""

    dm_policy: str
    allow_from: tuple[str, ...]
    group_policy: str
    groups: dict[str, dict[str, Any]]
    reply_to_mode: str
    group_allow_from: tuple[str, ...] = ()


def policy_view(account: Any) -> SlackPolicy:
    legacy = account.dm if isinstance(account.dm, dict) else {}
    dm_policy = account.dm_policy
    if dm_policy == "pairing" and legacy.get("policy") in ("pairing", "allowlist", "open", "disabled"):
        dm_policy = legacy["policy"]
    if legacy.get("enabled") is False:
        dm_policy = "disabled"
    allow_from = list(account.allow_from) or list(legacy.get("allowFrom") or [])
    groups: dict[str, dict[str, Any]] = {}
    for channel_id, entry in account.channels.items():
        if entry.allow is False or entry.enabled is False:
            continue  # refused: ``denied_channels`` drops its messages before any policy
        mention = entry.require_mention if entry.require_mention is not None else account.require_mention
        groups[channel_id] = {"requireMention": mention, "allowFrom": entry.users, "systemPrompt": entry.system_prompt}
    if account.group_policy == "open" and "*" not in groups and not account.require_mention:
        groups["*"] = {"requireMention": False}
    return SlackPolicy(dm_policy=dm_policy, allow_from=tuple(str(e) for e in allow_from),
                       group_policy=account.group_policy, groups=groups, reply_to_mode=account.reply_to_mode)


def denied_channels(account: Any) -> frozenset[str]:
    return frozenset(cid for cid, e in account.channels.items() if e.allow is False or e.enabled is False)


def _chat_type(event: dict[str, Any], channel: str) -> str:
    kind = event.get("channel_type")
    if kind == "im" or (kind is None and channel.startswith("D")):
        return "direct"
    if kind == "mpim":
        return "group"
    return "channel"


def _string(event: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = event.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 255:
        raise UnreadableEvent(f"event field {key!r} is not a usable string")
    return value


def to_inbound(body: dict[str, Any], *, account_id: str, bot_user_id: str | None, bot_id: str | None = None,
               allow_bots: bool = False, denied: frozenset[str] = frozenset()) -> InboundMessage | None:
    """The message an ``event_callback`` body carries, None when it starts no turn; ``UnreadableEvent``
    (or any ``ValueError``/``TypeError``) when it is not the shape Slack sends."""
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    if not isinstance(event, dict):
        raise UnreadableEvent("event_callback without an event object")
    kind = event.get("type")
    if kind not in ("message", "app_mention") or event.get("subtype") not in TEXT_SUBTYPES:
        return None
    text = event.get("text")
    if not isinstance(text, str):
        if event.get("subtype") == "file_share":
            return None
        raise UnreadableEvent("message event without text")
    channel = _string(event, "channel")
    ts = _string(event, "ts")
    assert channel is not None and ts is not None
    sender = event.get("user")
    from_bot = bool(event.get("bot_id")) or not isinstance(sender, str)
    if (bot_user_id and sender == bot_user_id) or (bot_id and event.get("bot_id") == bot_id):
        return None  # our own message (Slack echoes it to the channels we read)
    if from_bot and not allow_bots:
        return None
    if channel in denied:
        return None
    mention = f"<@{bot_user_id}>" if bot_user_id else None
    mentioned = kind == "app_mention" or bool(mention and mention in text)
    if mention:
        text = re.sub(rf"{re.escape(mention)}\s?", "", text).strip()
    thread = _string(event, "thread_ts", required=False)
    return InboundMessage(
        channel="slack", account_id=account_id, sender_id=str(sender or event.get("bot_id") or ""),
        chat_id=channel, text=text[:MAX_TEXT], chat_type=_chat_type(event, channel),
        thread_id=thread if thread and thread != ts else None, message_id=ts, mentioned=mentioned,
        sender_name=None, team_id=str(body.get("team_id") or event.get("team") or "") or None)


def event_key(body: Any, fallback: str) -> str:
    """The dead-letter key of an unreadable body: ``event:<event_id>``, else ``fallback``."""
    event_id = body.get("event_id") if isinstance(body, dict) else None
    if isinstance(event_id, str) and 0 < len(event_id) <= 64:
        return f"event:{event_id}"
    return fallback

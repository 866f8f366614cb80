"""Who may talk to the agent, and in which session (reference §10.2, §9.1). Pure functions.

``decide(message, account, paired)`` applies dmPolicy / groupPolicy / mention gating and returns what to
do: ``answer``, ``pair`` (unknown DM sender under the pairing policy) or ``ignore``. With ``allowlist``
and an empty ``allowFrom`` nobody is answered: an unset allowlist never means "anyone".
"""

from __future__ import annotations

from typing import Any, Literal

from .base import InboundMessage

Decision = Literal["answer", "pair", "ignore"]


def normalize_entry(entry: Any) -> str:
    text = str(entry).strip()
    for prefix in ("telegram:", "tg:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    return text.lstrip("@").lower()


def _listed(message: InboundMessage, entries: set[str]) -> bool:
    names = {message.sender_id.lower()}
    if message.sender_name:
        names.add(message.sender_name.lower())
    return "*" in entries or bool(names & entries)


def decide(message: InboundMessage, account: Any, paired: set[str]) -> Decision:
    allow = {normalize_entry(e) for e in account.allow_from}
    if message.chat_type == "direct":
        policy = account.dm_policy
        if policy == "disabled":
            return "ignore"
        if policy == "open":
            return "answer"
        if _listed(message, allow):
            return "answer"
        if policy == "pairing":
            return "answer" if _listed(message, {normalize_entry(e) for e in paired}) else "pair"
        return "ignore"  # allowlist, sender not listed (or allowFrom unset)
    groups: dict[str, Any] = account.groups or {}
    group = groups.get(message.chat_id, groups.get("*"))
    if account.group_policy == "disabled":
        return "ignore"
    if account.group_policy == "allowlist":
        group_allow = {normalize_entry(e) for e in (getattr(account, "group_allow_from", None) or [])}
        if group is None and not _listed(message, group_allow):
            return "ignore"
    require_mention = True
    if isinstance(group, dict) and group.get("requireMention") is False:
        require_mention = False
    if require_mention and not message.mentioned:
        return "ignore"
    return "answer"


def session_key(message: InboundMessage, *, agent_id: str, main_key: str, dm_scope: str) -> str:
    channel, peer = message.channel, message.sender_id.lower()
    if message.chat_type != "direct":
        key = f"agent:{agent_id}:{channel}:group:{message.chat_id}"
        return f"{key}:topic:{message.thread_id}" if message.thread_id else key
    if dm_scope == "per-peer":
        return f"agent:{agent_id}:dm:{peer}"
    if dm_scope == "per-channel-peer":
        return f"agent:{agent_id}:{channel}:dm:{peer}"
    if dm_scope == "per-account-channel-peer":
        return f"agent:{agent_id}:{channel}:{message.account_id}:dm:{peer}"
    return main_key

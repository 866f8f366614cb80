"""Who may talk to the agent, which agent answers, and in which session, by the original's DM policies, bindings and session scopes. Pure.

``decide(message, account, paired)`` applies dmPolicy / groupPolicy / mention gating and returns what to
do: ``answer``, ``pair`` (unknown DM sender under the pairing policy) or ``ignore``. With ``allowlist``
and an empty ``allowFrom`` nobody is answered: an unset allowlist never means "anyone". A group message
is answered when the policy allows the chat (``groupPolicy: allowlist``: the chat is in ``groups``, by id
or ``"*"``, or the sender is in ``groupAllowFrom``), the sender passes the group's or forum topic's own
``allowFrom`` if it has one, and the bot was mentioned unless ``requireMention: false`` (topic over group).

``resolve_agent(bindings, ...)`` picks the agent from ``bindings[]`` the way the original's
``resolveAgentRoute`` does: only bindings for the message's channel and account take part (``accountId``
unset = the default account, ``"*"`` = any), then the first binding in file order wins at the most
specific level present: peer > guild > team > account > any account > the default agent. A binding
naming an agent that is not configured falls back to the default agent. ``session_key`` then builds the
session key for that agent (the original's key shapes, ``session.dmScope``, ``session.identityLinks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from ..config.model import Binding, normalize_agent_id
from .base import InboundMessage

Decision = Literal["answer", "pair", "ignore"]


def normalize_entry(entry: Any) -> str:
    text = str(entry).strip()
    for prefix in ("telegram:", "tg:", "slack:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    return text.lstrip("@").lower()


def _listed(message: InboundMessage, entries: set[str]) -> bool:
    names = {message.sender_id.lower()}
    if message.sender_name:
        names.add(message.sender_name.lower())
    return "*" in entries or bool(names & entries)


@attrs.frozen
class GroupSettings:
    """What ``groups.<chatId>`` (or ``"*"``) and its ``topics.<threadId>`` say about one group message."""

    configured: bool  # the chat is in ``groups`` (by id or ``"*"``)
    require_mention: bool = True
    allow_from: tuple[str, ...] | None = None  # a group/topic ``allowFrom``: only these senders
    system_prompt: str | None = None


def _field(block: Any, key: str) -> Any:
    """``key`` (camelCase) of a typed group block or of a plain dict (programmatic configs)."""
    if block is None:
        return None
    if isinstance(block, dict):
        return block.get(key)
    return getattr(block, "".join("_" + c.lower() if c.isupper() else c for c in key), None)


def group_settings(message: InboundMessage, account: Any) -> GroupSettings:
    """Resolve ``groups`` for a group message: the chat's own block, else ``"*"``; a forum topic's
    ``topics.<threadId>`` overrides ``requireMention``/``allowFrom`` and adds its ``systemPrompt``."""
    groups = getattr(account, "groups", None) or {}
    group = groups.get(message.chat_id, groups.get("*"))
    topics = _field(group, "topics") or {}
    topic = topics.get(message.thread_id) if message.thread_id else None
    mention = _field(topic, "requireMention")
    if mention is None:
        mention = _field(group, "requireMention")
    allow = _field(topic, "allowFrom")
    if allow is None:
        allow = _field(group, "allowFrom")
    prompts = [p.strip() for p in (_field(group, "systemPrompt"), _field(topic, "systemPrompt"))
               if isinstance(p, str) and p.strip()]
    return GroupSettings(configured=group is not None, require_mention=mention is not False,
                         allow_from=tuple(normalize_entry(e) for e in allow) if allow is not None else None,
                         system_prompt="\n\n".join(prompts) or None)


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
    if account.group_policy == "disabled":
        return "ignore"
    group = group_settings(message, account)
    if group.allow_from is not None and not _listed(message, set(group.allow_from)):
        return "ignore"  # the group's (or topic's) own allowFrom applies under every policy
    if account.group_policy == "allowlist":
        group_allow = {normalize_entry(e) for e in (getattr(account, "group_allow_from", None) or [])}
        if not group.configured and not _listed(message, group_allow):
            return "ignore"
    if group.require_mention and not message.mentioned:
        return "ignore"
    return "answer"


MatchedBy = Literal["binding.peer", "binding.guild", "binding.team", "binding.account", "binding.channel",
                    "default"]


@attrs.frozen
class Peer:
    kind: str  # dm | group | channel
    id: str


def message_peers(message: InboundMessage) -> list[Peer]:
    """The peers a binding may name for ``message``, most specific first: a forum topic
    (``<chatId>:topic:<threadId>``), then its group; a DM's peer is the sender."""
    if message.chat_type == "direct":
        return [Peer("dm", message.sender_id)]
    kind = "channel" if message.chat_type == "channel" else "group"
    group = Peer(kind, message.chat_id)
    if kind == "channel" and message.thread_id:  # a Discord thread is a channel of its own id
        return [Peer(kind, message.thread_id), group]
    return [Peer(kind, f"{message.chat_id}:topic:{message.thread_id}"), group] if message.thread_id else [group]


def _token(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def _account_matches(wanted: str | None, account_id: str) -> bool:
    wanted = (wanted or "").strip()
    if not wanted:
        return account_id == "default"
    return wanted == "*" or wanted.lower() == account_id.lower()


def resolve_agent(bindings: Sequence[Binding], *, channel: str, account_id: str, peers: Sequence[Peer] = (),
                  guild_id: str | None = None, team_id: str | None = None, default_agent: str,
                  known_agents: Sequence[str] = ()) -> tuple[str, MatchedBy]:
    """(agent id, what matched) for a message from ``channel``/``account_id`` (see the module docstring).

    Agent ids come back normalised; ``known_agents`` (normalised) empty means every id is known."""
    channel = _token(channel)
    candidates = [b for b in bindings
                  if _token(b.match.channel) == channel and _account_matches(b.match.account_id, account_id)]

    def chosen(binding: Binding, how: MatchedBy) -> tuple[str, MatchedBy]:
        agent = normalize_agent_id(binding.agent_id)
        if known_agents and agent not in known_agents:
            return default_agent, how
        return agent, how

    for peer in peers:
        for binding in candidates:
            wanted = binding.match.peer
            if wanted is not None and wanted.kind == peer.kind and _token(wanted.id) == _token(peer.id):
                return chosen(binding, "binding.peer")
    for value, field, how in ((guild_id, "guild_id", "binding.guild"), (team_id, "team_id", "binding.team")):
        if value:
            for binding in candidates:
                if _token(getattr(binding.match, field)) == _token(value):
                    return chosen(binding, how)  # type: ignore[arg-type]
    unscoped = [b for b in candidates if b.match.peer is None and not b.match.guild_id and not b.match.team_id]
    for binding in unscoped:
        if (binding.match.account_id or "").strip() != "*":
            return chosen(binding, "binding.account")
    for binding in unscoped:
        return chosen(binding, "binding.channel")
    return default_agent, "default"


def linked_peer(identity_links: Mapping[str, Any], channel: str, peer_id: str) -> str | None:
    """The canonical name ``session.identityLinks`` gives ``peer_id`` (``{"alice": ["telegram:42", …]}``)."""
    candidates = {_token(peer_id), _token(f"{channel}:{peer_id}")} - {""}
    for canonical, ids in identity_links.items():
        if canonical.strip() and isinstance(ids, list) and candidates & {_token(i) for i in ids}:
            return canonical.strip()
    return None


def session_key(message: InboundMessage, *, agent_id: str, main_key: str, dm_scope: str,
                identity_links: Mapping[str, Any] | None = None) -> str:
    """The session for ``message`` in agent ``agent_id`` (``main_key``: that agent's main session key)."""
    channel, peer = message.channel, message.sender_id.lower()
    if message.chat_type == "channel":  # a thread of a channel (Discord) is its own session
        key = f"agent:{agent_id}:{channel}:channel:{message.chat_id}"
        return f"{key}:thread:{message.thread_id}" if message.thread_id else key
    if message.chat_type != "direct":
        key = f"agent:{agent_id}:{channel}:group:{message.chat_id}"
        return f"{key}:topic:{message.thread_id}" if message.thread_id else key
    if dm_scope != "main" and identity_links:
        peer = (linked_peer(identity_links, channel, message.sender_id) or peer).lower()
    if dm_scope == "per-peer":
        return f"agent:{agent_id}:dm:{peer}"
    if dm_scope == "per-channel-peer":
        return f"agent:{agent_id}:{channel}:dm:{peer}"
    if dm_scope == "per-account-channel-peer":
        return f"agent:{agent_id}:{channel}:{message.account_id}:dm:{peer}"
    return main_key

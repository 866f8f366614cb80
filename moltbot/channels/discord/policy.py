"""Who the Discord bot answers, and where (the original's Discord access rules). Pure.

Direct messages follow ``dmPolicy``/``allowFrom`` (the older ``dm.policy``/``dm.allowFrom`` when those
are unset; ``dm.enabled: false`` ignores every DM) through ``routing.decide``, so pairing works as on
Telegram. Guild messages: ``groupPolicy: disabled`` ignores them; ``allowlist`` (the default) needs the
guild in ``guilds`` (by id, by its name/slug, or ``"*"``); a guild with a ``channels`` block allows only
the channels it lists (by id, name or ``"*"``; a thread is looked up by its own id first, then by its
parent channel's), and ``allow: false``/``enabled: false`` deny one. ``users`` (the channel's, else the
guild's) limits who is answered; ``requireMention`` (channel over guild) defaults to true: the bot must
be @mentioned or replied to. Allowlist entries may be ids, names, ``discord:``/``user:`` prefixed, or a
mention (``<@id>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ...config.model import DiscordAccount
from ..base import InboundMessage
from ..routing import Decision
from ..routing import decide as decide_direct


def normalize(entry: Any) -> str:
    text = str(entry).strip().lower()
    if text.startswith("<@") and text.endswith(">"):
        text = text[2:-1].lstrip("!")
    for prefix in ("discord:", "user:"):
        text = text.removeprefix(prefix)
    return text.lstrip("@")


def effective(account: DiscordAccount) -> DiscordAccount:
    """The account with its DM policy resolved (own keys over the ``dm`` block) and allowlists normalised."""
    allow = account.allow_from if account.allow_from is not None else (account.dm.allow_from or [])
    return attrs.evolve(
        account,
        dm_policy=account.dm_policy or account.dm.policy or "pairing",
        allow_from=[normalize(e) for e in allow],
    )


@attrs.frozen
class Place:
    """What the config says about one guild channel (or thread)."""

    allowed: bool
    require_mention: bool = True
    users: frozenset[str] | None = None
    system_prompt: str | None = None


def _keys(ident: str | None, names: Mapping[str, str]) -> list[str]:
    if not ident:
        return []
    name = names.get(ident)
    return [ident] + ([name.lower(), f"#{name.lower()}"] if name else [])


def place(message: InboundMessage, account: DiscordAccount, names: Mapping[str, str]) -> Place:
    """Resolve ``guilds`` for a guild message; ``names`` maps known guild/channel ids to their names."""
    if account.group_policy == "disabled":
        return Place(False)
    guilds = {str(k).lower(): v for k, v in account.guilds.items()}
    guild = next((guilds[k] for k in _keys(message.guild_id, names) if k in guilds), None)
    if guild is None:
        guild = next(
            (
                g
                for g in guilds.values()
                if g.slug
                and message.guild_id
                and g.slug.lower() == (names.get(message.guild_id) or "").lower()
            ),
            guilds.get("*"),
        )
    if guild is None and account.group_policy == "allowlist":
        return Place(False)
    rule = None
    if guild is not None and guild.channels is not None:
        rules = {str(k).lower(): v for k, v in guild.channels.items()}
        candidates = _keys(message.thread_id, names) + _keys(message.chat_id, names) + ["*"]
        rule = next((rules[k] for k in candidates if k in rules), None)
        if rule is None:
            return Place(False)  # a guild that lists channels allows only those
    if rule is not None and (rule.allow is False or rule.enabled is False):
        return Place(False)
    users = rule.users if rule is not None and rule.users is not None else (guild.users if guild else None)
    mention = (
        rule.require_mention
        if rule is not None and rule.require_mention is not None
        else (guild.require_mention if guild is not None else None)
    )
    prompts = [
        p.strip()
        for p in ((guild.system_prompt if guild else None), rule.system_prompt if rule else None)
        if isinstance(p, str) and p.strip()
    ]
    return Place(
        True,
        require_mention=mention is not False,
        users=frozenset(normalize(u) for u in users) if users is not None else None,
        system_prompt="\n\n".join(prompts) or None,
    )


def decide(
    message: InboundMessage, account: DiscordAccount, paired: set[str], names: Mapping[str, str]
) -> Decision:
    """``account`` is ``effective(...)``'s result."""
    if message.chat_type == "direct":
        return "ignore" if not account.dm.enabled else decide_direct(message, account, paired)
    where = place(message, account, names)
    if not where.allowed:
        return "ignore"
    if where.users is not None:
        sender = {message.sender_id.lower(), (message.sender_name or "").lower()} - {""}
        if "*" not in where.users and not sender & where.users:
            return "ignore"
    if where.require_mention and not message.mentioned:
        return "ignore"
    return "answer"

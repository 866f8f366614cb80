"""One Discord bot account as a channel: the gateway session, inbound mapping, sends over REST.

Theory of operation: ``serve`` opens the REST client, finds the gateway URL (``gatewayUrl``, else
``GET /gateway/bot``) and runs one ``GatewayConnection`` after another: a connection that ends asking to
resume is followed at once by one that resumes on the session's ``resume_gateway_url``; more than
``STORM_LIMIT`` connections within ``STORM_WINDOW`` seconds, or a failure before the gateway spoke,
ends the run with an error, so the channel manager's backoff ladder spaces the attempts (no reconnect
storm); a fatal close (bad token, disallowed intents) ends it for good with that error. Every frame
counts as traffic for ``channels/liveness.py`` (heartbeat acks arrive every ~41 s, so silence past
``SILENCE_LIMIT`` means a dead socket). ``MESSAGE_CREATE`` becomes an ``InboundMessage`` (a DM, or a
guild message with ``guild_id`` and, in a thread, the parent channel as its chat and the thread as its
thread); one that cannot be read is dead-lettered and the session goes on. Guild, channel and thread
names and thread parents are learnt from ``GUILD_CREATE``/``CHANNEL_*``/``THREAD_*`` (or one
``GET /channels/{id}``) for the allowlists. ``send`` posts one piece with a ``nonce`` derived from the
outbox's idempotency key and ``enforce_nonce``, so a piece sent again after a crash (its outcome not yet
recorded) is answered by Discord with the message it already has instead of a second one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from ...store.ids import is_account_id
from ..base import AccountStatus, ChannelUnavailable, DeliveryError, InboundMessage, Inbox, wall_ms
from . import policy
from .gateway import GatewayConnection, GatewayFatal, GatewayLost, Session, SessionFile
from .rest import DEFAULT_API_BASE, DiscordApiError, DiscordError, DiscordRateLimited, DiscordRest

log = logging.getLogger("moltbot.channels.discord")

CHUNK_LIMIT = 2000  # Discord's own limit on a message's content
SILENCE_LIMIT = 150.0  # heartbeat acks come every ~41 s
STORM_WINDOW, STORM_LIMIT = 60.0, 6
TYPING_EVERY = 8.0  # Discord shows "typing" for 10 s per call
LOOKUP_SECONDS = 5.0
SENDS_FINISH_SECONDS = 10.0
MAX_KNOWN = 20_000  # names/parents remembered (a huge bot forgets and looks up again)
UNKNOWN_CHANNEL = 10003
RESUME_WINDOW = 300.0  # a saved session younger than this is resumed after a restart (else identify)
SAVE_SECONDS = 10.0  # how often the session's handled sequence is written while events arrive
_SNOWFLAKE = re.compile(r"^\d{1,20}$")
THREAD_TYPES = (10, 11, 12)


def resolve_token(account: Any, account_id: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """(token, source): ``token`` (config), ``tokenFile``, ``DISCORD_BOT_TOKEN`` (default account only)."""
    token, source = None, "none"
    if account.token:
        token, source = account.token, "config"
    elif account.token_file:
        source = "tokenFile"
        try:
            token = Path(account.token_file).expanduser().read_text("utf-8")
        except OSError:
            token = None
    elif account_id == "default" and env.get("DISCORD_BOT_TOKEN"):
        token, source = env["DISCORD_BOT_TOKEN"], "env"
    token = (token or "").strip().removeprefix("Bot ").strip()
    return token or None, source


def nonce_for(key: str) -> str:
    """A 24-character nonce (Discord allows 25) that is the same for the same outbox piece."""
    return base64.b32encode(hashlib.blake2b(key.encode(), digest_size=15).digest()).decode().lower()


def parse_target(target: str) -> tuple[str, str]:
    """(kind, id): ``user:<id>``/``<@id>`` → a DM; ``channel:<id>``/``<#id>``/``<id>`` → a channel;
    ``<channelId>:thread:<threadId>`` (or ``:topic:``) → the thread. ``discord:`` prefixes allowed."""
    text = target.strip().removeprefix("discord:")
    kind = "channel?"  # a bare id: a channel, else (Unknown Channel) a user
    if text.startswith("user:"):
        kind, text = "user", text[5:]
    elif text.startswith("<@") and text.endswith(">"):
        kind, text = "user", text[2:-1].lstrip("!")
    elif text.startswith("channel:"):
        kind, text = "channel", text[8:]
    elif text.startswith("<#") and text.endswith(">"):
        kind, text = "channel", text[2:-1]
    for separator in (":thread:", ":topic:"):
        if separator in text:
            kind, text = "channel", text.partition(separator)[2]
    if not _SNOWFLAKE.match(text):
        raise DeliveryError(f"invalid discord target: {target[:100]}", permanent=True)
    return kind, text


class DiscordChannel:
    channel = "discord"
    idempotent_sends = True  # the outbox passes ``idempotency_key`` (→ ``nonce``)

    def __init__(
        self,
        account_id: str,
        account: Any,
        status: AccountStatus,
        *,
        env: Mapping[str, str],
        state_dir: Path | None = None,
    ) -> None:
        self.account_id = account_id
        self.config = account
        # What the dispatcher reads (dmPolicy, allowFrom, replyToMode), with the older ``dm`` block resolved.
        self.account = policy.effective(account)
        self.status = status
        self.text_chunk_limit = max(1, min(account.text_chunk_limit or CHUNK_LIMIT, CHUNK_LIMIT))
        self.token, self.token_source = resolve_token(account, account_id, env)
        self.api_base = account.api_base or env.get("DISCORD_API_BASE") or DEFAULT_API_BASE
        self.gateway_url = account.gateway_url or env.get("DISCORD_GATEWAY_URL")
        self.silence_limit = SILENCE_LIMIT
        self.bot_id: str | None = None
        self.bot_name: str | None = None
        self.connections = 0
        self.session: Session | None = None
        # An account id that cannot be part of a file name (``store/ids.py``) keeps its session in memory.
        path = (
            state_dir / "credentials" / f"discord-{account_id}-session.json"
            if state_dir and is_account_id(account_id)
            else None
        )
        self._sessions = SessionFile(path, self.token or "", max_age=RESUME_WINDOW)
        self._connection: GatewayConnection | None = None
        self._saved_at = -SAVE_SECONDS
        self._rest: DiscordRest | None = None
        self._names: dict[str, str] = {}  # guild/channel/thread id → name
        self._parents: dict[str, str | None] = {}  # channel id → its parent if a thread, else None
        self._dm_channels: dict[str, str] = {}  # user id → DM channel id
        self._sending = 0
        self._idle = trio.Event()

    # --- the gateway --------------------------------------------------------------------------------

    async def serve(
        self, inbox: Inbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if not self.token:
            raise ChannelUnavailable("not configured: no bot token (token, tokenFile or DISCORD_BOT_TOKEN)")
        async with DiscordRest(
            self.token, self.api_base, timeout=float(self.config.timeout_seconds or 30)
        ) as rest:
            self._rest = rest
            try:
                await self._run(rest, inbox, task_status)
            finally:
                self._rest = None
                self.status.connected = False
                with trio.CancelScope(shield=True), trio.move_on_after(2.0):  # the next start resumes it
                    await self._save_session(force=True)
                if self._sending:  # shielded in the outbox: let them finish on this client, bounded
                    with trio.CancelScope(shield=True), trio.move_on_after(SENDS_FINISH_SECONDS):
                        await self._idle.wait()

    async def _run(self, rest: DiscordRest, inbox: Inbox, task_status: Any) -> None:
        try:  # who we are (a resumed session has no READY to say so), then where the gateway is
            me = await rest.me()
            self.bot_id, self.bot_name = str(me.get("id") or "") or None, me.get("username")
            url = self.gateway_url or str((await rest.gateway_bot()).get("url") or "")
        except DiscordApiError as exc:
            if exc.status == 401:
                raise GatewayFatal(
                    f"discord: authentication failed: the bot token is not valid ({exc})"
                ) from None
            raise
        if not url:
            raise GatewayLost("discord: GET /gateway/bot gave no url")
        started, recent = False, deque[float]()

        def ready(data: dict[str, Any]) -> None:
            nonlocal started
            user = data.get("user") or {}
            if user.get("id"):
                self.bot_id, self.bot_name = str(user["id"]), user.get("username")
            self.status.connected, self.status.last_error = True, None
            self.status.last_connected_at = wall_ms()
            if not started:
                started = True
                task_status.started()

        handler = functools.partial(self._on_event, inbox)
        self.session = await trio.to_thread.run_sync(self._sessions.load, time.time())
        while True:
            connection = GatewayConnection(
                self.session.resume_url if self.session else url,
                self.token or "",
                handler,
                session=self.session,
                on_frame=self._heard,
                on_ready=ready,
            )
            self.connections += 1
            self._connection = connection
            try:
                outcome = await connection.run()
            finally:
                self.status.connected = False
            self.session = connection.session if outcome == "resume" else None
            now = trio.current_time()
            recent.append(now)
            while recent and recent[0] < now - STORM_WINDOW:
                recent.popleft()
            if len(recent) > STORM_LIMIT:
                raise GatewayLost(
                    f"discord gateway: {len(recent)} connections within {STORM_WINDOW:g}s; backing off"
                )

    async def _save_session(self, *, force: bool = False) -> None:
        """Write the live session (at most every ``SAVE_SECONDS`` unless ``force``), on a worker thread."""
        connection, now = self._connection, trio.current_time()
        session = connection.session if connection is not None else self.session
        if session is None or (not force and now - self._saved_at < SAVE_SECONDS):
            return
        self._saved_at = now
        try:
            await trio.to_thread.run_sync(self._sessions.save, attrs.evolve(session), time.time())
        except OSError as exc:  # the next start identifies afresh: nothing is lost but the replay
            log.warning("discord:%s session not saved: %s", self.account_id, exc)

    def _heard(self) -> None:
        self.status.last_transport_activity_at = wall_ms()

    def _remember(self, item: dict[str, Any], parent: str | None = None) -> None:
        if len(self._names) > MAX_KNOWN:
            self._names.clear()
            self._parents.clear()
        ident = str(item.get("id") or "")
        if not ident:
            return
        if isinstance(item.get("name"), str):
            self._names[ident] = item["name"]
        if "type" in item or parent is not None:
            thread = item.get("type") in THREAD_TYPES
            self._parents[ident] = str(item.get("parent_id") or parent or "") if thread else None

    async def _on_event(self, inbox: Inbox, event: str, data: dict[str, Any]) -> None:
        if event == "GUILD_CREATE":
            self._remember(data)
            for item in (data.get("channels") or []) + (data.get("threads") or []):
                if isinstance(item, dict):
                    self._remember(item)
        elif event in ("CHANNEL_CREATE", "CHANNEL_UPDATE", "THREAD_CREATE", "THREAD_UPDATE"):
            self._remember(data)
        elif event == "THREAD_LIST_SYNC":
            for item in data.get("threads") or []:
                if isinstance(item, dict):
                    self._remember(item)
        elif event in ("READY", "RESUMED"):
            await self._save_session(force=True)
        elif event == "MESSAGE_CREATE":
            try:
                message = await self.to_inbound(data)
            except Exception as exc:  # one unreadable message is dead-lettered; the session goes on
                ident = data.get("id")
                key = (
                    f"message:{ident}"[:60]
                    if isinstance(ident, str) and ident
                    else f"unreadable:{wall_ms()}:{self.connections}:{id(data)}"
                )
                await inbox.reject(
                    "discord", self.account_id, key, f"unreadable message: {type(exc).__name__}: {exc}"[:300]
                )
                return
            if message is not None:
                self.status.last_inbound_at = wall_ms()
                await inbox.send(message)
            await self._save_session()

    async def _parent_of(self, channel_id: str) -> str | None:
        """The parent channel of a thread (None for a channel), looked up once when not learnt yet
        (after a resumed restart there was no ``GUILD_CREATE``); a failed lookup counts as a channel."""
        if channel_id not in self._parents and self._rest is not None:
            try:
                with trio.fail_after(LOOKUP_SECONDS):
                    self._remember(await self._rest.channel(channel_id))
            except (DiscordError, trio.TooSlowError) as exc:
                log.debug("discord: channel %s lookup failed: %s", channel_id, exc)
            self._parents.setdefault(channel_id, None)
        return self._parents.get(channel_id)

    async def _learn_guild(self, guild_id: str) -> None:
        """A guild's name, looked up once, when the allowlist names guilds by name or slug."""
        named = any(
            not _SNOWFLAKE.match(str(k)) and k != "*" or g.slug for k, g in self.config.guilds.items()
        )
        if not named or guild_id in self._names or self._rest is None:
            return
        try:
            with trio.fail_after(LOOKUP_SECONDS):
                self._remember({"id": guild_id, "name": (await self._rest.guild(guild_id)).get("name")})
        except (DiscordError, trio.TooSlowError) as exc:
            log.debug("discord: guild %s lookup failed: %s", guild_id, exc)
        self._names.setdefault(guild_id, "")

    async def to_inbound(self, data: dict[str, Any]) -> InboundMessage | None:
        author, content = data.get("author"), data.get("content")
        if not isinstance(author, dict) or not isinstance(content, str):
            raise ValueError("MESSAGE_CREATE without author or content")
        sender = str(author["id"])
        if sender == self.bot_id or (author.get("bot") and not self.config.allow_bots) or not content.strip():
            return None  # our own, another bot's, or no text (attachments only, or no message content intent)
        channel_id, message_id = str(data["channel_id"]), str(data["id"])
        guild = str(data["guild_id"]) if data.get("guild_id") else None
        mentioned, text = False, content
        if self.bot_id:
            mentions = data.get("mentions") or []
            replied = (data.get("referenced_message") or {}).get("author") or {}
            mentioned = any(isinstance(m, dict) and str(m.get("id")) == self.bot_id for m in mentions) or (
                str(replied.get("id")) == self.bot_id
            )
            text = re.sub(rf"<@!?{self.bot_id}>", "", content).strip() or content
        chat, thread = channel_id, None
        if guild is not None:
            await self._learn_guild(guild)
            parent = await self._parent_of(channel_id)
            if parent:
                chat, thread = parent, channel_id
        return InboundMessage(
            channel="discord",
            account_id=self.account_id,
            sender_id=sender,
            chat_id=chat,
            text=text,
            chat_type="channel" if guild else "direct",
            thread_id=thread,
            message_id=message_id,
            mentioned=mentioned,
            sender_name=author.get("username"),
            guild_id=guild,
        )

    # --- what the dispatcher asks ---------------------------------------------------------------------

    def decide(self, message: InboundMessage, paired: set[str]) -> policy.Decision:
        return policy.decide(message, self.account, paired, self._names)

    def group_prompt(self, message: InboundMessage) -> str | None:
        return policy.place(message, self.account, self._names).system_prompt

    @property
    def reply_to_all(self) -> bool:
        return self.config.reply_to_mode == "all"

    async def typing(self, message: InboundMessage) -> None:
        """Show "typing" in the reply's channel until cancelled (best effort)."""
        rest, target = self._rest, message.thread_id or message.chat_id
        while rest is not None:
            try:
                await rest.typing(target)
            except DiscordError as exc:
                log.debug("discord: typing in %s failed: %s", target, exc)
                return
            await trio.sleep(TYPING_EVERY)

    async def probe(self, seconds: float) -> dict[str, Any]:
        rest, started = self._rest, trio.current_time()
        if rest is None:
            return {"ok": False, "error": "not connected"}
        try:
            with trio.fail_after(seconds):
                me = await rest.me()
        except (DiscordError, trio.TooSlowError) as exc:
            return {"ok": False, "error": str(exc) or "timeout"}
        return {
            "ok": True,
            "bot": {"id": me.get("id"), "username": me.get("username")},
            "elapsedMs": int((trio.current_time() - started) * 1000),
        }

    # --- sending --------------------------------------------------------------------------------------

    async def send(
        self, target: str, text: str, *, reply_to: str | None = None, idempotency_key: str | None = None
    ) -> str:
        """Post one piece (≤ 2,000 characters; the outbox chunks); its message id.

        ``DeliveryError``: permanent for a 4xx (no such channel, no permission, bad request), with
        ``retry_after`` for a rate limit; a network error or 5xx is worth a retry."""
        rest = self._rest
        if rest is None:
            raise DeliveryError(f"discord account {self.account_id} is not connected")
        kind, ident = parse_target(target)
        nonce = nonce_for(idempotency_key) if idempotency_key else None
        reply = reply_to if reply_to and _SNOWFLAKE.match(reply_to) else None
        self._sending += 1
        try:
            if kind == "user" or ident in self._dm_channels:
                channel_id = await self._dm_channel(rest, ident)
            else:
                channel_id = ident
            try:
                sent = await rest.create_message(channel_id, text, reply_to=reply, nonce=nonce)
            except DiscordApiError as exc:
                if kind != "channel?" or exc.code != UNKNOWN_CHANNEL:
                    raise
                # A bare id that is no channel: a user (a pairing notice names the sender) → their DM.
                sent = await rest.create_message(
                    await self._dm_channel(rest, ident), text, reply_to=reply, nonce=nonce
                )
        except DiscordRateLimited as exc:
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from None
        except DiscordApiError as exc:
            raise DeliveryError(str(exc), permanent=400 <= exc.status < 500) from None
        except DiscordError as exc:
            raise DeliveryError(str(exc)) from None
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()
                self._idle = trio.Event()
        self.status.last_outbound_at = wall_ms()
        return str(sent.get("id", ""))

    async def _dm_channel(self, rest: DiscordRest, user_id: str) -> str:
        known = self._dm_channels.get(user_id)
        if known is None:
            opened = (await rest.open_dm(user_id)).get("id")
            if not opened:
                raise DiscordError(f"discord: no DM channel for user {user_id}")
            known = self._dm_channels[user_id] = str(opened)
        return known

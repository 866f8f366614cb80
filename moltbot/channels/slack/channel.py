"""One Slack app as a channel account: tokens, ``auth.test``, Socket Mode or HTTP Events, ``chat.postMessage``.

Start: ``auth.test`` with the bot token gives the bot's user id (mention gating, our own messages
ignored) and proves the token; a token Slack refuses for good (``invalid_auth``, ``token_revoked``…) ends
the account with ``ChannelUnavailable`` instead of retrying forever. Then, ``mode: socket`` (default):
``socket.serve_socket_mode`` with the app-level token; ``mode: http``: the gateway's HTTP server hands
signed requests to ``receive`` (``http_events``), and the account only waits. Without the secret its mode
needs (``appToken``, ``signingSecret``) the account does not start (fail closed, ``lastError`` says which).

Outbound: ``send`` posts one piece (the outbox has chunked it with ``chunk_text``, mrkdwn); a reply to a
thread message, or any reply when ``replyToMode`` is ``first``/``all``, goes to the thread (every piece
of it: ``reply_to_all``). Slack's Web API has no idempotency key; instead each piece carries its delivery's
key (hashed) in the message ``metadata``, and a delivery resumed after a restart is first looked up
(``find_sent``: ``conversations.history``/``replies``), so a piece Slack got just before a ``kill -9`` is
not posted twice. Where the look-up cannot answer (no ``*:history`` scope, the message beyond the page
read, metadata dropped by Slack) it is sent again: at least once in that window, as for Telegram.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any

import trio

from ..base import AccountStatus, ChannelUnavailable, DeliveryError, InboundMessage, Inbox, wall_ms
from . import socket
from .api import SlackApi, SlackError
from .events import denied_channels, event_key, policy_view, to_inbound
from .format import chunk_mrkdwn

log = logging.getLogger("moltbot.channels.slack")

FATAL_AUTH = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                        "not_allowed_token_type", "missing_scope", "no_permission"})
SENDS_FINISH_SECONDS = 10.0
METADATA_EVENT = "moltbot_delivery"
_TS = re.compile(r"\d{1,12}\.\d{1,8}")


def resolve_tokens(account: Any, account_id: str, env: Mapping[str, str]) -> tuple[str | None, str | None, str]:
    """(bot token, app token, source): config first, ``SLACK_BOT_TOKEN``/``SLACK_APP_TOKEN`` for the
    default account."""
    bot, app = (account.bot_token or "").strip() or None, (account.app_token or "").strip() or None
    source = "config" if bot else "none"
    if account_id == "default":
        if bot is None and env.get("SLACK_BOT_TOKEN", "").strip():
            bot, source = env["SLACK_BOT_TOKEN"].strip(), "env"
        if app is None and env.get("SLACK_APP_TOKEN", "").strip():
            app = env["SLACK_APP_TOKEN"].strip()
    return bot, app, source


def is_configured(account: Any, account_id: str, env: Mapping[str, str]) -> tuple[bool, str]:
    bot, app, source = resolve_tokens(account, account_id, env)
    return bool(bot) and (account.mode == "http" or bool(app)), source


def parse_target(target: str) -> tuple[str, str | None]:
    """``<channelId>``, ``user:<id>``/``channel:<id>`` (``slack:`` allowed), and ``:thread:<ts>``
    (or ``:topic:<ts>``, what an inbound thread message's reply target says)."""
    target = target.strip()
    for prefix in ("slack:", "channel:", "user:"):
        if target.lower().startswith(prefix):
            target = target[len(prefix):]
    for marker in (":thread:", ":topic:"):
        chat, sep, thread = target.partition(marker)
        if sep:
            if not _TS.fullmatch(thread):
                raise DeliveryError(f"invalid slack thread: {thread[:40]}", permanent=True)
            break
    else:
        chat, thread = target, ""
    if not chat or len(chat) > 80 or any(c.isspace() for c in chat):
        raise DeliveryError(f"invalid slack target: {target[:80]}", permanent=True)
    return chat, thread or None


def send_marker(idempotency_key: str) -> dict[str, Any]:
    """The metadata a piece carries so a later run can find it (the outbox's ``<key>#<piece>``, hashed: a
    client's idempotency key is not the channel's to show)."""
    return {"event_type": METADATA_EVENT,
            "event_payload": {"key": hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}}


class SlackChannel:
    channel = "slack"
    reply_to_all = True  # a reply's pieces stay together (in its thread, or all in the channel)
    marks_sends = True  # the outbox passes ``idempotency_key`` to ``send`` and asks ``find_sent`` after a restart

    def __init__(self, account_id: str, account: Any, status: AccountStatus, *, env: Mapping[str, str]) -> None:
        self.account_id = account_id
        self.config = account
        self.account = policy_view(account)  # what routing.decide and the dispatcher read
        self.status = status
        self.text_chunk_limit = max(1, account.text_chunk_limit or 4000)
        self.bot_token, self.app_token, self.token_source = resolve_tokens(account, account_id, env)
        self.mode = account.mode
        self.webhook_path = "/" + (account.webhook_path or "/slack/events").strip("/")
        self.silence_limit = (socket.PING_SECONDS + socket.PONG_SECONDS + 30.0) if self.mode == "socket" else None
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self.team_id: str | None = None
        self.reconnects = 0
        self._denied = denied_channels(account)
        self._api: SlackApi | None = None
        self._inbox: Inbox | None = None
        self._sending = 0
        self._idle = trio.Event()

    @property
    def chunk_text(self):
        return chunk_mrkdwn

    async def serve(self, inbox: Inbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if not self.bot_token:
            raise ChannelUnavailable("not configured: no bot token (botToken or SLACK_BOT_TOKEN)")
        if self.mode == "socket" and not self.app_token:
            raise ChannelUnavailable("socket mode needs an app-level token (appToken or SLACK_APP_TOKEN, xapp-…)")
        if self.mode == "http" and not self.config.signing_secret:
            raise ChannelUnavailable("http mode needs channels.slack.signingSecret (every request is refused "
                                     "without it)")
        timeout = float(self.config.timeout_seconds or 30)
        async with SlackApi(self.bot_token, self.config.api_root, timeout=timeout) as api:
            try:
                me = await api.auth_test()
            except SlackError as exc:
                if exc.code in FATAL_AUTH:
                    raise ChannelUnavailable(f"slack refused the bot token: {exc.code}") from None
                raise
            self.bot_user_id, self.bot_id = me.get("user_id"), me.get("bot_id")
            self.team_id = me.get("team_id")
            self.status.self_id = {"userId": self.bot_user_id, "teamId": self.team_id}
            self._inbox = inbox
            started = False

            def hello() -> None:
                nonlocal started
                self._api = api
                self.status.connected, self.status.last_connected_at = True, wall_ms()
                self._heard()
                if not started:
                    started = True
                    task_status.started()

            try:
                if self.mode == "http":
                    hello()
                    await trio.sleep_forever()
                assert self.app_token is not None
                async with SlackApi(self.app_token, self.config.api_root, timeout=timeout) as app_api:
                    try:
                        await socket.serve_socket_mode(app_api, self.receive_many, on_hello=hello,
                                                       on_activity=self._heard, on_reconnect=self._reconnecting)
                    except SlackError as exc:
                        if exc.code in FATAL_AUTH:
                            raise ChannelUnavailable(f"slack refused the app token: {exc.code}") from None
                        raise
            finally:
                self._api = self._inbox = None
                self.status.connected = False
                if self._sending:  # shielded in the outbox: let them finish on this client, bounded
                    with trio.CancelScope(shield=True), trio.move_on_after(SENDS_FINISH_SECONDS):
                        await self._idle.wait()

    def _heard(self) -> None:
        self.status.last_transport_activity_at = wall_ms()

    def _reconnecting(self, reason: str) -> None:
        self.reconnects += 1

    @property
    def accepting(self) -> bool:
        """Ready for events (HTTP mode: the route answers 503 until then, so Slack retries)."""
        return self._inbox is not None and self.status.connected

    async def receive(self, payload: Any, source_id: str) -> None:
        """One Events API body (from an envelope or an HTTP request): returns once it is durably received,
        dropped as a duplicate, ignored, or dead-lettered as unreadable."""
        await self.receive_many([(payload, source_id)])

    async def receive_many(self, events: list[tuple[Any, str]]) -> None:
        """``receive`` for a batch of (payload, source id): their receipts in one store transaction."""
        inbox = self._inbox
        if inbox is None:
            raise DeliveryError("slack account is not running")
        messages: list[InboundMessage] = []
        for payload, source_id in events:
            try:
                if not isinstance(payload, dict):
                    raise ValueError("payload is not an object")
                message = to_inbound(payload, account_id=self.account_id, bot_user_id=self.bot_user_id,
                                     bot_id=self.bot_id, allow_bots=self.config.allow_bots, denied=self._denied)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:  # one bad event never loops
                await inbox.reject("slack", self.account_id, event_key(payload, source_id),
                                   f"unreadable event: {type(exc).__name__}: {exc}"[:300])
                continue
            if message is not None:
                messages.append(message)
        self._heard()
        if not messages:
            return
        self.status.last_inbound_at = wall_ms()
        await inbox.send_many(messages)  # the batch's receipts in one store transaction

    async def probe(self, seconds: float) -> dict[str, Any]:
        """``auth.test`` on the live client, for ``channels.status`` with ``probe: true``."""
        api, started = self._api, trio.current_time()
        if api is None:
            return {"ok": False, "error": "not connected"}
        try:
            with trio.fail_after(seconds):
                me = await api.auth_test()
        except (SlackError, trio.TooSlowError) as exc:
            return {"ok": False, "error": str(exc) or "timeout"}
        return {"ok": True, "bot": {"id": me.get("user_id"), "team": me.get("team")},
                "elapsedMs": int((trio.current_time() - started) * 1000)}

    async def find_sent(self, target: str, idempotency_key: str, *, since_ms: int,
                        reply_to: str | None = None) -> str | None:
        """The ``ts`` of the piece ``idempotency_key`` names if Slack already has it (posted by a run that
        was killed before it could record it), else None. One page (200 messages since the delivery was
        queued) of the channel or thread is read; a look-up Slack refuses for good (a missing
        ``*:history`` scope) answers None: the piece is then sent, at least once."""
        api = self._api
        if api is None:
            raise DeliveryError(f"slack account {self.account_id} is not connected")
        channel, thread = parse_target(target)
        thread = thread or (reply_to if reply_to and _TS.fullmatch(reply_to) else None)
        try:
            messages = await api.recent_messages(channel, oldest=f"{since_ms / 1000 - 1:.6f}", thread_ts=thread)
        except SlackError as exc:
            if exc.permanent:
                log.info("slack:%s cannot check whether a resumed delivery arrived (%s); sending it",
                         self.account_id, exc.code)
                return None
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from None
        wanted = send_marker(idempotency_key)
        for message in messages:
            if message.get("metadata") == wanted and (message.get("user") in (None, self.bot_user_id)):
                log.info("slack:%s a resumed delivery had arrived before the restart (ts %s); not sent again",
                         self.account_id, message.get("ts"))
                return str(message.get("ts") or "") or None
        return None

    async def send(self, target: str, text: str, *, reply_to: str | None = None,
                   idempotency_key: str | None = None) -> str:
        """Post one piece with ``chat.postMessage``; its ``ts``. ``DeliveryError``: permanent for what Slack
        refuses for good, with ``retry_after`` for 429, otherwise worth a retry."""
        api = self._api
        if api is None:
            raise DeliveryError(f"slack account {self.account_id} is not connected")
        channel, thread = parse_target(target)
        thread = thread or (reply_to if reply_to and _TS.fullmatch(reply_to) else None)
        self._sending += 1
        try:
            sent = await api.post_message(channel, text, thread_ts=thread,
                                          metadata=send_marker(idempotency_key) if idempotency_key else None)
        except SlackError as exc:
            raise DeliveryError(str(exc), permanent=exc.permanent, retry_after=exc.retry_after) from None
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()
                self._idle = trio.Event()
        self.status.last_outbound_at = wall_ms()
        return str(sent.get("ts") or "")


def body_key(body: bytes) -> str:
    """The dead-letter key of an HTTP body without a readable ``event_id``."""
    return "body:" + hashlib.sha256(body).hexdigest()[:24]

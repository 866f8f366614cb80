"""One Telegram bot account as a channel: token resolution, getMe, polling, inbound mapping, sendMessage."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trio

from ...store.ids import is_account_id
from ..base import AccountStatus, ChannelUnavailable, DeliveryError, InboundMessage, Inbox, wall_ms
from . import poller, webhook
from .api import TelegramApi, TelegramApiError, TelegramError
from .poller import ALLOWED_UPDATES, OffsetStore, poll_updates
from .webhook import serve_webhook

log = logging.getLogger("moltbot.channels.telegram")

PERMANENT_STATUSES = (400, 403, 404)
SILENCE_MARGIN = 60.0
SENDS_FINISH_SECONDS = 10.0  # a stopping account lets the sends in flight finish on its connection


def resolve_token(account: Any, account_id: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """(token, source): ``botToken`` (config), ``tokenFile`` (file), ``TELEGRAM_BOT_TOKEN`` (env, default
    account only), else (None, "none")."""
    if account.bot_token:
        return account.bot_token.strip(), "config"
    if account.token_file:
        try:
            return Path(account.token_file).expanduser().read_text("utf-8").strip() or None, "tokenFile"
        except OSError:
            return None, "tokenFile"
    if account_id == "default" and env.get("TELEGRAM_BOT_TOKEN"):
        return env["TELEGRAM_BOT_TOKEN"].strip(), "env"
    return None, "none"


def parse_target(target: str) -> tuple[str, int | None]:
    """``<chatId>`` or ``<chatId>:topic:<threadId>`` (``telegram:``/``tg:`` prefixes allowed)."""
    for prefix in ("telegram:", "tg:"):
        if target.startswith(prefix):
            target = target[len(prefix):]
    chat, sep, thread = target.partition(":topic:")
    if sep and not thread.isdigit():
        raise DeliveryError(f"invalid telegram target: {target}", permanent=True)
    if not chat:
        raise DeliveryError("empty telegram target", permanent=True)
    return chat, int(thread) if sep else None


class TelegramChannel:
    channel = "telegram"

    def __init__(self, account_id: str, account: Any, status: AccountStatus, *, env: Mapping[str, str],
                 state_dir: Path | None) -> None:
        self.account_id = account_id
        self.account = account
        self.status = status
        self.text_chunk_limit = max(1, account.text_chunk_limit or 4000)
        self.token, self.token_source = resolve_token(account, account_id, env)
        # An account id that cannot be part of a file name (``store/ids.py``) keeps its offset in memory only.
        self.offsets = OffsetStore(state_dir / "credentials" / f"telegram-{account_id}-offset.json"
                                   if state_dir and is_account_id(account_id) else None)
        self.bot_username: str | None = None
        self.bot_id: int | None = None
        self._api: TelegramApi | None = None
        self._sending = 0
        self._idle = trio.Event()

    async def serve(self, inbox: Inbox, *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if not self.token:
            raise ChannelUnavailable("not configured: no bot token (botToken, tokenFile or TELEGRAM_BOT_TOKEN)")
        async with TelegramApi(self.token, self.account.api_root, timeout=float(self.account.timeout_seconds or 30),
                               proxy=self.account.proxy) as api:
            me = await api.get_me()
            self.bot_username, self.bot_id = me.get("username"), me.get("id")

            async def handle(updates: list[dict[str, Any]]) -> None:
                messages: list[InboundMessage] = []
                for update in updates:
                    try:
                        message = self.to_inbound(update)
                    except Exception as exc:  # one malformed update is dead-lettered, never replayed
                        await inbox.reject("telegram", self.account_id, f"update:{update.get('update_id')}",
                                           f"unreadable update: {type(exc).__name__}: {exc}"[:300])
                        continue
                    if message is not None:
                        messages.append(message)
                if messages:  # the batch's receipts in one store transaction
                    self.status.last_inbound_at = wall_ms()
                    await inbox.send_many(messages)

            try:
                if self.account.webhook_url:
                    await self._serve_webhook(api, handle, task_status)
                else:
                    # A webhook left from webhook mode makes every getUpdates a 409 (grammY's start does this too).
                    await api.call("deleteWebhook", {"drop_pending_updates": False})
                    self._connected(api)
                    task_status.started()
                    await poll_updates(api, self.offsets, handle, poll_seconds=poller.POLL_TIMEOUT,
                                       on_response=self._heard)
            finally:
                self._api = None
                self.status.connected = False
                if self._sending:  # shielded in the outbox: let them finish on this client, bounded
                    with trio.CancelScope(shield=True), trio.move_on_after(SENDS_FINISH_SECONDS):
                        await self._idle.wait()

    @property
    def silence_limit(self) -> float | None:
        """Polling: a long poll answers within its timeout, so silence past it plus a margin means a dead
        connection (``channels/liveness.py`` restarts the account). Webhook mode waits for Telegram: none."""
        return None if self.account.webhook_url else poller.POLL_TIMEOUT + SILENCE_MARGIN

    def _heard(self) -> None:
        self.status.last_transport_activity_at = wall_ms()

    def _connected(self, api: TelegramApi) -> None:
        self._api = api
        self.status.connected = True
        self.status.last_connected_at = wall_ms()

    async def _serve_webhook(self, api: TelegramApi, handle: Any, task_status: Any) -> None:
        """Listen on our own port, then ``setWebhook``; each update is handled once (offset store)."""
        account, lock = self.account, trio.Lock()
        if not account.webhook_secret:  # fail closed (CVE-2026-44109): anyone could post forged updates
            raise ChannelUnavailable("webhook mode needs channels.telegram.webhookSecret (the secret_token "
                                     "Telegram sends with each update); set it or remove webhookUrl")
        last = await trio.to_thread.run_sync(self.offsets.load)

        async def handle_one(update: dict[str, Any]) -> None:
            nonlocal last
            update_id = update.get("update_id")
            async with lock:  # received (a durable receipt) first, then the offset: as in polling
                if not isinstance(update_id, int) or (last is not None and update_id <= last):
                    return
                await handle([update])
                last = update_id
                await trio.to_thread.run_sync(self.offsets.save, update_id)

        async with trio.open_nursery() as nursery:
            port = await nursery.start(functools.partial(
                serve_webhook, account.webhook_path or webhook.DEFAULT_PATH, account.webhook_secret, handle_one,
                host=webhook.DEFAULT_HOST, port=webhook.DEFAULT_PORT))
            self.status.mode, self.status.port, self._api = "webhook", port, api
            params: dict[str, Any] = {"url": account.webhook_url, "allowed_updates": ALLOWED_UPDATES}
            if account.webhook_secret:
                params["secret_token"] = account.webhook_secret
            await api.call("setWebhook", params)
            self._connected(api)
            task_status.started()

    async def probe(self, seconds: float) -> dict[str, Any]:
        """``getMe`` on the live connection, for ``channels.status`` with ``probe: true``."""
        api, started = self._api, trio.current_time()
        if api is None:
            return {"ok": False, "error": "not connected"}
        try:
            with trio.fail_after(seconds):
                me = await api.get_me()
        except (TelegramError, trio.TooSlowError) as exc:
            return {"ok": False, "error": str(exc) or "timeout"}
        return {"ok": True, "bot": {"id": me.get("id"), "username": me.get("username")},
                "elapsedMs": int((trio.current_time() - started) * 1000)}

    def to_inbound(self, update: dict[str, Any]) -> InboundMessage | None:
        message = update.get("message")  # edits are not new turns
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return None
        chat, sender = message.get("chat") or {}, message.get("from") or {}
        if sender.get("is_bot"):
            return None
        text: str = message["text"]
        group = chat.get("type") in ("group", "supergroup")
        mentioned = False
        if self.bot_username and f"@{self.bot_username}".lower() in text.lower():
            mentioned = True
        replied = message.get("reply_to_message") or {}
        if self.bot_id is not None and (replied.get("from") or {}).get("id") == self.bot_id:
            mentioned = True
        thread = message.get("message_thread_id") if chat.get("is_forum") else None
        return InboundMessage(
            channel="telegram", account_id=self.account_id, sender_id=str(sender.get("id", "")),
            chat_id=str(chat.get("id", "")), text=text, chat_type="group" if group else "direct",
            thread_id=str(thread) if thread is not None else None,
            message_id=str(message.get("message_id")) if message.get("message_id") is not None else None,
            mentioned=mentioned, sender_name=sender.get("username") or sender.get("first_name"))

    @property
    def reply_to_all(self) -> bool:
        """``replyToMode: all``: every chunk of a long reply quotes the message (else only the first)."""
        return self.account.reply_to_mode == "all"

    async def send(self, target: str, text: str, *, reply_to: str | None = None) -> str:
        """Send one message (the outbox has chunked ``text`` to ``text_chunk_limit``); its message id.

        Raises ``DeliveryError``: permanent for what Telegram refuses for good (400 bad request, 403 bot
        blocked or kicked, 404), with ``retry_after`` for 429; a network error or 5xx is worth a retry."""
        api = self._api
        if api is None:
            raise DeliveryError(f"telegram account {self.account_id} is not connected")
        chat, thread = parse_target(target)
        reply = int(reply_to) if reply_to and reply_to.isdigit() else None
        self._sending += 1
        try:
            sent = await api.send_message(chat, text, thread_id=thread, reply_to=reply)
        except TelegramApiError as exc:
            raise DeliveryError(str(exc), permanent=exc.status in PERMANENT_STATUSES,
                                retry_after=exc.retry_after) from None
        except TelegramError as exc:  # no answer: Telegram may have it (the outbox keeps it in doubt)
            raise DeliveryError(str(exc), unsure=True) from None
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()
                self._idle = trio.Event()
        self.status.last_outbound_at = wall_ms()
        return str(sent.get("message_id", ""))

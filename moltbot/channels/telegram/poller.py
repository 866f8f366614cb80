"""The getUpdates long-poll loop and its persisted offset.

Theory of operation: Telegram keeps every update until a ``getUpdates`` with a higher ``offset``
confirms it. A batch is handed on first (``handle`` returns once each message has a durable receipt in
the delivery store, or was dead-lettered), then ``lastUpdateId`` is written atomically to
``<stateDir>/credentials/telegram-<account>-offset.json``: a crash between the two makes Telegram send
the batch again, and the receipts drop what was already received, so nothing is lost or handled twice. 409 and
network/5xx errors end the loop with an exception: the manager restarts the account with backoff and a
fresh HTTP client, so a conflicting keep-alive socket is never reused. 429 waits ``retry_after`` here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from ...store.atomic import write_atomic
from .api import TelegramApi, TelegramApiError

log = logging.getLogger("moltbot.channels.telegram")

ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "callback_query", "my_chat_member"]
POLL_TIMEOUT = 30


class OffsetStore:
    """``lastUpdateId`` for one account, read once and written atomically on every advance."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> int | None:
        if self.path is None:
            return None
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        value = data.get("lastUpdateId") if isinstance(data, dict) else None
        return value if isinstance(value, int) else None

    def save(self, last_update_id: int) -> None:
        if self.path is not None:
            write_atomic(self.path, json.dumps({"version": 1, "lastUpdateId": last_update_id}) + "\n")

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def poll_updates(api: TelegramApi, offsets: OffsetStore,
                       handle: Callable[[list[dict[str, Any]]], Awaitable[None]], *,
                       poll_seconds: float = POLL_TIMEOUT, on_response: Callable[[], None] = lambda: None) -> None:
    """Long-poll forever, passing each batch to ``handle``, then storing its offset; ``on_response`` is
    called whenever Telegram answers (liveness)."""
    last = await trio.to_thread.run_sync(offsets.load)
    while True:
        try:
            updates = await api.get_updates(None if last is None else last + 1, poll_seconds, ALLOWED_UPDATES)
            on_response()
        except TelegramApiError as exc:
            on_response()
            if exc.status == 429:
                delay = exc.retry_after if exc.retry_after is not None else 5.0
                log.warning("telegram rate limited; retrying getUpdates in %.1fs", delay)
                await trio.sleep(delay)
                continue
            raise
        updates = [u for u in updates if isinstance(u, dict)]
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        fresh = [u for u in updates if last is None or (isinstance(u.get("update_id"), int) and u["update_id"] > last)]
        if fresh:
            await handle(fresh)
        if ids and (last is None or max(ids) > last):
            last = max(ids)
            await trio.to_thread.run_sync(offsets.save, last)

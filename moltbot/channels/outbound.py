"""The channel manager's delivery side: the store, the outbox, inbound receipts, and the send paths.

Every outbound message goes through ``Deliveries``: ``deliver`` (a notice or a cron delivery; waits for
the first attempt's outcome), ``send`` (the ``send`` method, keyed by its idempotency key, so a repeated
``send`` returns the first one's result even after a restart) and ``queue_reply`` (an agent's reply to an
inbound message, keyed by that message's id, not waited for). ``resolve`` is how the outbox reaches a
channel: the running account, or a ``DeliveryError`` saying whether waiting can help. ``InboundGate`` is
the ``Inbox`` every account hands messages to: it claims a receipt, drops duplicates and passes the rest
to the dispatcher.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ..delivery.outbox import Entry, Outbox
from ..delivery.receipts import Receipts
from ..delivery.store import DeliveryStore, StoreError
from ..protocol import INVALID_REQUEST, UNAVAILABLE, ProtocolError
from .base import ChannelAccount, DeliveryError, InboundMessage

if TYPE_CHECKING:
    from .manager import ChannelManager

log = logging.getLogger("moltbot.channels")

STORE_CLOSE_SECONDS = 5.0


class InboundGate:
    """The ``Inbox`` of every account: a message reaches the dispatcher once, whatever redelivers it."""

    def __init__(self, receipts: Receipts, dispatch: trio.MemorySendChannel[InboundMessage]) -> None:
        self._receipts = receipts
        self._dispatch = dispatch

    async def send(self, message: InboundMessage) -> None:
        if await self._receipts.claim(message):
            await self._dispatch.send(message)

    async def send_many(self, messages: list[InboundMessage]) -> None:
        """``send`` for a batch: the receipts in one store transaction, then the new ones in order."""
        for message, fresh in zip(messages, await self._receipts.claim_many(messages), strict=True):
            if fresh:
                await self._dispatch.send(message)

    async def reject(self, channel: str, account_id: str, message_key: str, reason: str) -> None:
        await self._receipts.reject(channel, account_id, message_key, reason)


class Deliveries:
    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self.outbox: Outbox | None = None
        self.receipts: Receipts | None = None
        self.store_error: str | None = None
        self._ready = trio.Event()

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Outbox]:
        """Open the store (in memory, with ``store_error`` set, when the file cannot be used); close it
        when the block, and with it everything that writes to the store, has finished."""
        state_dir = self.manager.runtime.config.state_dir
        try:
            store = await DeliveryStore.open(state_dir)
        except (StoreError, OSError) as exc:
            self.store_error = str(exc)
            log.error("%s; deliveries are kept in memory only until this is fixed", exc)
            store = await DeliveryStore.open(None)
        self.outbox = Outbox(store, self.resolve, on_change=self.manager.runtime.health.mark_stale)
        self.receipts = Receipts(store, on_dead=self.outbox.count_inbound_dead)
        try:
            yield self.outbox
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(STORE_CLOSE_SECONDS):
                await store.aclose()

    def started(self) -> None:
        self._ready.set()

    async def _outbox(self) -> Outbox:
        await self._ready.wait()  # a cron delivery can come before the channels have started
        assert self.outbox is not None
        return self.outbox

    # --- reaching an account ----------------------------------------------------------------------

    def account_id(self, channel: str, account_id: str | None) -> str:
        """The account a message without one goes through: ``default`` if configured, else the first."""
        if account_id:
            return account_id
        configs = self.manager.account_configs(channel)
        return "default" if "default" in configs or not configs else next(iter(configs))

    def resolve(self, channel: str, account_id: str) -> ChannelAccount:
        """The running account; ``DeliveryError`` (permanent when it is not configured to run at all)."""
        manager = self.manager
        if channel not in manager.statuses:
            raise DeliveryError(f"unsupported channel: {channel}", permanent=True)
        if account_id not in manager.account_configs(channel):
            raise DeliveryError(f"{channel} account {account_id} is not configured", permanent=True)
        status = manager.statuses[channel].get(account_id)
        if status is not None and status.last_error in ("disabled", "not configured"):
            raise DeliveryError(f"{channel} account {account_id} is {status.last_error}", permanent=True)
        account = manager.account(channel, account_id)
        if account is None or status is None or not status.connected:
            why = status.last_error if status is not None and status.last_error else "not connected"
            raise DeliveryError(f"{channel} account {account_id} is not available: {why}")
        return account

    # --- the send paths ---------------------------------------------------------------------------

    async def deliver(self, channel: str, account_id: str | None, target: str, text: str,
                      reply_to: str | None = None, *, key: str | None = None, kind: str = "notice") -> str:
        """Queue a message and wait for its first attempt: the message id, else ``DeliveryError``
        (``DeliveryQueued`` when it stays queued for retry)."""
        outbox = await self._outbox()
        row = await outbox.deliver(key=key or f"{kind}:{uuid.uuid4()}", kind=kind, channel=channel,
                                   account_id=self.account_id(channel, account_id), target=target, text=text,
                                   reply_to=reply_to)
        return row.message_id or ""

    async def send(self, key: str, channel: str, account_id: str | None, target: str,
                   text: str) -> dict[str, Any]:
        """The ``send`` method: one delivery per idempotency key, whoever asks and whenever."""
        if channel not in self.manager.statuses:
            raise ProtocolError(INVALID_REQUEST, f"unsupported channel: {channel}")
        try:
            message_id = await self.deliver(channel, account_id, target, text, key=key, kind="send")
        except DeliveryError as exc:
            raise ProtocolError(UNAVAILABLE, str(exc)) from None
        return {"runId": key, "messageId": message_id, "channel": channel,
                "chatId": target.partition(":topic:")[0]}

    async def queue(self, channel: str, account_id: str | None, target: str, text: str, *, kind: str,
                    key: str) -> Entry:
        """Queue a message without waiting for it (written before this returns)."""
        outbox = await self._outbox()
        return await outbox.submit(key=key, kind=kind, channel=channel, account_id=self.account_id(channel, account_id),
                                   target=target, text=text)

    async def queue_reply(self, message: InboundMessage, text: str, reply_to: str | None, run_id: str) -> Entry:
        """Queue the reply to ``message`` (written before this returns); the outbox sends it."""
        outbox = await self._outbox()
        key = f"reply:{message.channel}:{message.account_id}:{message.dedupe_key or run_id}"
        return await outbox.submit(key=key, kind="reply", channel=message.channel, account_id=message.account_id,
                            target=message.reply_target, text=text, reply_to=reply_to)

    # --- status -------------------------------------------------------------------------------------

    def counts(self, channel: str, account_id: str) -> dict[str, int]:
        if self.outbox is None:
            return {}
        return self.outbox.account_counts(channel, account_id)

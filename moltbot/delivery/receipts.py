"""Inbound receipts: one durable record per inbound message id, so a message starts one turn, ever.

Theory of operation: ``claim`` writes a ``received`` receipt (with the message, so its turn can be run
again) before the channel acknowledges the message to the platform; a message whose id already has a
receipt is a duplicate (a Telegram update redelivered after a crash, a WhatsApp message replayed on
reconnect) and is dropped. ``settle`` marks the receipt ``done`` when the turn has queued its reply
(the reply itself is then the outbox's), or ``dead`` with the reason when handling raised. ``resume``
returns what a stopped gateway left ``received``: each is handed to the dispatcher again once its account is
up, and ``count_attempt`` counts it while its turn runs (taken back when the turn ends: a process that dies
while the message waits for its turn, or after it, is not its fault); one whose turn ran ``MAX_ATTEMPTS``
times without finishing (it stops the process whenever it is handled) is dead-lettered
instead, so one bad message never loops. Messages without an id are not deduplicated (nothing names
them twice). A channel plugs in by giving its ``InboundMessage`` a ``message_id``.
"""

from __future__ import annotations

import json
import logging

import attrs

from ..channels.base import InboundMessage, wall_ms
from .store import DeliveryStore

log = logging.getLogger("moltbot.delivery")

MAX_ATTEMPTS = 3


def encode_message(message: InboundMessage) -> str:
    return json.dumps(attrs.asdict(message))  # ASCII: a lone surrogate in a message survives as an escape


def decode_message(payload: str | None) -> InboundMessage | None:
    """The stored message, or None when it cannot be read back (a newer or damaged payload)."""
    try:
        data = json.loads(payload) if payload else None
        return InboundMessage(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


class Receipts:
    def __init__(self, store: DeliveryStore, on_dead=lambda channel, account_id: None) -> None:
        self.store = store
        self._on_dead = on_dead
        self.duplicates = 0
        self.dead = 0

    async def claim(self, message: InboundMessage) -> bool:
        """Record the message's receipt; False for a duplicate."""
        key = message.dedupe_key
        if key is None:
            return True
        fresh = await self.store.run(self.store.db.claim, message.channel, message.account_id, key,
                                     encode_message(message), wall_ms())
        if not fresh:
            self.duplicates += 1
            log.info("%s:%s message %s seen before; not handled again", message.channel, message.account_id, key)
        return fresh

    async def claim_many(self, messages: list[InboundMessage]) -> list[bool]:
        """``claim`` for a batch, in one store transaction: for each message, False for a duplicate."""
        keyed = [(m.channel, m.account_id, m.dedupe_key, encode_message(m)) for m in messages if m.dedupe_key]
        fresh = iter(await self.store.run(self.store.db.claim_many, keyed, wall_ms()) if keyed else [])
        out = [next(fresh) if m.dedupe_key else True for m in messages]
        for message, new in zip(messages, out, strict=True):
            if not new:
                self.duplicates += 1
                log.info("%s:%s message %s seen before; not handled again", message.channel, message.account_id,
                         message.dedupe_key)
        return out

    async def claim_key(self, channel: str, account_id: str, key: str) -> bool:
        """``claim`` for a caller without an ``InboundMessage`` (a ``chat.send`` idempotency key, say):
        False when ``key`` was claimed before, in this run or an earlier one."""
        return await self.store.run(self.store.db.claim, channel, account_id, key, None, wall_ms(), state="done")

    async def settle(self, message: InboundMessage, *, reason: str | None = None) -> None:
        """The turn of ``message`` ended: done, or (with ``reason``) dead-lettered."""
        key = message.dedupe_key
        if key is not None:
            await self._settle(message.channel, message.account_id, key, reason)

    async def reject(self, channel: str, account_id: str, message_key: str, reason: str) -> None:
        """Dead-letter a message that could not be parsed (named by the platform's id for it); one seen
        before is dropped, so a redelivered bad update is neither logged nor counted twice."""
        if not await self.store.run(self.store.db.claim, channel, account_id, message_key, None, wall_ms()):
            self.duplicates += 1
            return
        await self._dead_letter(channel, account_id, message_key, reason)

    async def _dead_letter(self, channel: str, account_id: str, message_key: str, reason: str) -> None:
        log.warning("%s:%s inbound %s dead-lettered: %s", channel, account_id, message_key, reason)
        await self._settle(channel, account_id, message_key, reason)

    async def _settle(self, channel: str, account_id: str, key: str, reason: str | None) -> None:
        await self.store.run(self.store.db.settle, channel, account_id, key,
                             state="dead" if reason else "done", now_ms=wall_ms(), reason=reason)
        if reason:
            self.dead += 1
            self._on_dead(channel, account_id)

    async def count_attempt(self, message: InboundMessage, delta: int = 1) -> None:
        """The turn of ``message`` (from ``resume``) runs now; ``delta=-1`` takes that back (the turn
        ended, or a graceful stop cut it short: no fault of the message)."""
        if message.dedupe_key is not None:
            await self.store.run(self.store.db.count_attempt, message.channel, message.account_id,
                                 message.dedupe_key, wall_ms(), delta)

    async def resume(self) -> list[InboundMessage]:
        """The messages a stopped gateway had received but not finished, to handle again."""
        again: list[InboundMessage] = []
        for receipt in await self.store.run(self.store.db.unfinished):
            message = decode_message(receipt.payload)
            if message is None:
                reason = "stored message unreadable"
            elif receipt.attempts >= MAX_ATTEMPTS:
                reason = f"handling never finished (the gateway stopped each of the {receipt.attempts + 1} times it was handled)"
            else:
                again.append(message)
                continue
            await self._dead_letter(receipt.channel, receipt.account_id, receipt.message_key, reason)
        if again:
            log.info("inbound: %d message(s) received before the restart handled again", len(again))
        return again

"""The outbox: every outbound message is written, then sent, retried with backoff, or dead-lettered.

Theory of operation: ``submit`` writes the message to the store under its idempotency key (a key already
there returns the stored row: the same ``send`` twice, or a reply whose turn ran again after a restart,
is sent once) and queues it on its *lane*, one per (channel, account, target), so messages to one chat
keep their order while chats are sent concurrently (at most ``CONCURRENT_SENDS`` at a time). A lane sends
its head message chunk by chunk through the account ``resolve`` returns, recording the chunks sent, so a
retry resumes after them. A ``DeliveryError`` marked ``permanent`` (a chat that does not exist, a bot
blocked, an account not configured) dead-letters the message with the reason; any other is retried after
``BACKOFF`` (or the channel's ``retry_after``), until ``MAX_AGE_MS`` has passed. ``poke(channel,
account)`` retries an account's waiting messages at once: the channel manager calls it when the account
connects. Each send is marked in the store before it begins (``sending_at``; a first send's mark rides on
the write that queued it) and unmarked with its outcome, unless the failure leaves the outcome unknown
(``DeliveryError(unsure=True)``: a timeout). On start the pending rows of the previous run are queued
again: one without the mark was certainly not sent and is sent once; one with it is *in doubt* (a send in
flight when the process was killed) and is sent again: at least once on Telegram (its Bot API offers no
idempotency key to check against and no history to look in), once on a channel whose account says
``idempotent_sends`` (it gets ``idempotency_key``, the same for the same piece of the same message, and the
platform drops a repeat: Discord's ``nonce``), or once on a channel that finds it sent (``marks_sends``: its
pieces are tagged with that key, and ``find_sent`` is asked before resending a row in doubt; Slack finds it
in the messages' metadata).
An in-flight send is shielded for ``SEND_SHIELD`` seconds, so a graceful stop records its outcome. A store
file removed under the gateway is made again before the next message is written, when the config watch
sees the config file go (``check_store``), or within ``STORE_CHECK_SECONDS`` otherwise (a rare check, so an
idle gateway is not woken for it).

The outbox knows no channel: a channel plugs in by giving its account objects ``send(target, text, *,
reply_to)`` (``text`` already within ``text_chunk_limit``), an optional ``reply_to_all`` attribute, an
optional ``chunk_text(text, limit)`` (deterministic: a retry resumes by piece index), optional
``marks_sends`` + ``find_sent(target, idempotency_key, *, since_ms, reply_to)`` (message id or None) and
``DeliveryError(permanent=…, retry_after=…)`` for failures.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import attrs
import trio

from ..channels.base import Backoff, ChannelAccount, DeliveryError, wall_ms
from ..channels.chunk import chunk_text
from .store import DAY_MS, DeliveryStore, OutboxRow

log = logging.getLogger("moltbot.delivery")

BACKOFF = Backoff(initial=1.0, maximum=300.0, jitter=0.2)
MAX_AGE_MS = DAY_MS  # a message not delivered within a day is dead-lettered ("expired")
CONCURRENT_SENDS = 64
SEND_SHIELD = 15.0
DELIVER_WAIT = 30.0  # how long ``deliver`` waits for an attempt's outcome before saying "queued"
PRUNE_SECONDS = 3600.0
# How often an idle outbox checks that the store's file still exists (each new message checks it first, in
# the same worker-thread call as its write): rare, so an idle gateway sleeps (issue 17: ≤ 2 wake-ups/s).
STORE_CHECK_SECONDS = 30.0

Resolve = Callable[[str, str], ChannelAccount]


class DeliveryQueued(DeliveryError):
    """Not delivered yet, but queued: the outbox retries it (the message says why the last attempt failed)."""


@attrs.define(eq=False)
class Entry:
    """A pending message in memory: its row, when its next attempt is due, who waits for an outcome."""

    row: OutboxRow
    due: float = 0.0
    changed: trio.Event = attrs.field(factory=trio.Event)
    in_doubt: bool = False  # a send of the previous run began and its outcome was never recorded

    @property
    def final(self) -> bool:
        return self.row.state != "pending"

    def notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


@attrs.define(eq=False)
class Lane:
    queue: deque[Entry] = attrs.field(factory=deque)
    wake: trio.Event = attrs.field(factory=trio.Event)


@attrs.frozen
class OutboxStatistics:
    pending: int
    lanes: int
    sent: int
    retried: int
    dead_lettered: int
    in_doubt: int  # rows found in doubt at start (a send in flight when the previous run died)
    store_writes: int
    store_seconds: float


class Outbox:
    """The delivery queue of one runtime. ``serve`` owns the lanes' tasks and the store's connection."""

    def __init__(self, store: DeliveryStore, resolve: Resolve, *,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self._resolve = resolve
        self._on_change = on_change
        self._entries: dict[str, Entry] = {}
        self._lanes: dict[tuple[str, str, str], Lane] = {}
        self._limiter = trio.CapacityLimiter(CONCURRENT_SENDS)
        self._nursery: trio.Nursery | None = None
        self._idle = trio.Event()
        self._check_store = trio.Event()
        self.counts: dict[tuple[str, str], dict[str, int]] = {}
        self.sent = self.retried = self.dead_lettered = self.in_doubt = 0

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Resume the previous run's pending messages, then send until cancelled; prune hourly."""
        await self.store.run(self.store.db.prune, wall_ms())
        self.counts = await self.store.run(self.store.db.counts)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            resumed = await self.store.run(self.store.db.pending)
            for row in resumed:
                self._queue(Entry(row, in_doubt=row.in_doubt))
            doubtful = [row for row in resumed if row.in_doubt]
            self.in_doubt += len(doubtful)
            if resumed:
                log.info("outbox: %d message(s) from before the restart queued again", len(resumed))
            for channel in sorted({row.channel for row in doubtful}):
                log.warning("outbox: %d %s message(s) in doubt (a send was in flight when the gateway stopped): "
                            "sent again under the same key where the platform drops a repeat (Discord), looked "
                            "up where the channel can tell (Slack), else sent again (at least once)",
                            sum(row.channel == channel for row in doubtful), channel)
            task_status.started()
            try:
                next_prune = trio.current_time() + PRUNE_SECONDS
                while True:
                    with trio.move_on_after(STORE_CHECK_SECONDS):
                        await self._check_store.wait()
                    self._check_store = trio.Event()
                    if await self.store.run(self.store.db.reopen_if_removed):
                        self._store_reopened()
                    if trio.current_time() >= next_prune:
                        next_prune += PRUNE_SECONDS
                        if await self.store.run(self.store.db.prune, wall_ms()):
                            self.counts = await self.store.run(self.store.db.counts)
            finally:
                # Stopping: a message submitted from now on stays pending in the store (a handler that
                # finishes while the runtime stops), and the next start sends it.
                self._nursery = None

    def check_store(self) -> None:
        """Check the store's file now, not at the next idle check: the config watch saw the config file go
        (the state dir may have been removed). A new file also lets go of the removed directories, which
        the open one keeps alive, so the config watch sees its directory gone and makes it again."""
        self._check_store.set()

    def _store_reopened(self) -> None:
        log.error("outbox: %s was removed while the gateway runs; started a new one (messages still pending "
                  "are sent from memory)", self.store.db.path)

    # --- submitting -----------------------------------------------------------------------------

    async def submit(self, *, key: str, kind: str, channel: str, account_id: str, target: str, text: str,
                     reply_to: str | None = None) -> Entry:
        """Write the message (unless its key is known) and queue it; the entry to wait on."""
        # Its first send begins at once when its lane is idle: the "sending" mark rides on this write.
        sending = self._nursery is not None and (channel, account_id, target) not in self._lanes
        db = self.store.db
        try:
            # A removed file is made again before the write; ``reopen_if_removed`` runs outside the group
            # commit's transaction (it replaces the connection), so it is a call of its own.
            reopened = await self.store.run(db.reopen_if_removed)
            row, created = await self.store.run(
                db.enqueue, key=key, kind=kind, channel=channel, account_id=account_id, target=target,
                text=text, reply_to=reply_to, now_ms=wall_ms(), sending=sending)
        except ValueError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        if reopened:
            self._store_reopened()
        known = self._entries.get(row.key)
        if known is not None:
            return known
        entry = Entry(row)
        if created:
            self._count(row, +1)
        if not entry.final:
            self._queue(entry)
        return entry

    async def deliver(self, *, wait: float = DELIVER_WAIT, **message: Any) -> OutboxRow:
        """``submit``, then wait (≤ ``wait`` s) for an attempt: the delivered row, else ``DeliveryError``
        (``DeliveryQueued`` while it is retried)."""
        entry = await self.submit(**message)
        if not entry.final:
            with trio.move_on_after(wait):
                await entry.changed.wait()
        row = entry.row
        if row.state == "delivered":
            return row
        if row.state == "dead":
            raise DeliveryError(row.last_error or "not delivered", permanent=True)
        raise DeliveryQueued(f"not delivered yet, queued for retry (attempt {row.attempts}): "
                             f"{row.last_error or 'waiting for its turn'}")

    async def wait_idle(self) -> None:
        """Wait until no message is pending (each delivered or dead-lettered)."""
        while self._entries:
            await self._idle.wait()

    def poke(self, channel: str, account_id: str) -> None:
        """Retry the account's waiting messages now (it has just connected)."""
        for (lane_channel, lane_account, _), lane in self._lanes.items():
            if (lane_channel, lane_account) == (channel, account_id):
                lane.wake.set()

    # --- sending --------------------------------------------------------------------------------

    def _queue(self, entry: Entry) -> None:
        if self._nursery is None:  # not started, or stopping: the row waits in the store for the next start
            return
        row = entry.row
        self._entries[row.key] = entry
        lane_key = (row.channel, row.account_id, row.target)
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = Lane()
            self._nursery.start_soon(self._run_lane, lane_key, lane)
        lane.queue.append(entry)

    async def _run_lane(self, key: tuple[str, str, str], lane: Lane) -> None:
        try:
            while lane.queue:
                entry = lane.queue[0]
                if entry.due > trio.current_time():
                    with trio.move_on_at(entry.due):
                        await lane.wake.wait()
                    lane.wake = trio.Event()
                async with self._limiter:
                    await self._attempt(entry)
                if entry.final:
                    lane.queue.popleft()
                    del self._entries[entry.row.key]
                    if not self._entries:
                        self._idle.set()
                        self._idle = trio.Event()
        finally:
            del self._lanes[key]

    async def _attempt(self, entry: Entry) -> None:
        """One attempt at the rest of the message; its outcome is in the store when this returns."""
        row = entry.row
        store, before = self.store, row.state
        in_doubt = False  # whether the failure leaves the platform perhaps holding the message
        try:
            with trio.CancelScope(shield=True), trio.move_on_after(SEND_SHIELD) as bound:
                await self._send_rest(entry)
            if bound.cancelled_caught:
                raise DeliveryError(f"send did not finish within {SEND_SHIELD:g}s", unsure=True)
        except DeliveryError as exc:
            in_doubt = exc.unsure
            entry.in_doubt = entry.in_doubt or in_doubt  # the retry asks ``find_sent`` first, where there is one
            row.attempts += 1
            expired = wall_ms() - row.created_at >= MAX_AGE_MS
            row.last_error = str(exc) or type(exc).__name__
            if exc.permanent or expired:
                row.state = "dead"
                if expired and not exc.permanent:
                    row.last_error = f"expired after {row.attempts} attempts: {row.last_error}"
                self.dead_lettered += 1
                log.warning("outbox: %s to %s:%s:%s dead-lettered: %s", row.kind, row.channel, row.account_id,
                            row.target, row.last_error)
            else:
                delay = max(BACKOFF.delay(row.attempts), exc.retry_after or 0.0)
                entry.due = trio.current_time() + delay
                self.retried += 1
                log.info("outbox: %s to %s:%s:%s not sent (%s); retry %d in %.1fs", row.kind, row.channel,
                         row.account_id, row.target, row.last_error, row.attempts, delay)
        else:
            row.attempts += 1
            row.state, row.last_error = "delivered", None
            self.sent += 1
        if not (in_doubt and row.state == "pending"):
            row.sending_at = None
        with trio.CancelScope(shield=True):  # the outcome is written even while the runtime stops
            await store.run(store.db.finish, row.id, state=row.state, attempts=row.attempts, now_ms=wall_ms(),
                            message_id=row.message_id, error=row.last_error, in_doubt=row.sending_at is not None)
        if row.state != before:
            self._count(attrs.evolve(row, state=before), -1)
            self._count(row, +1)
        entry.notify()

    async def _send_rest(self, entry: Entry) -> None:
        row = entry.row
        account = self._resolve(row.channel, row.account_id)
        # A channel that can tell whether a send arrived (Slack: the key in the message's metadata) is asked
        # before resending a piece in doubt (a kill -9 may have cut its send off after the platform got it,
        # or the last attempt got no answer); ``marked`` channels take the key with each piece for that.
        find = getattr(account, "find_sent", None) if entry.in_doubt else None
        marker = bool(getattr(account, "marks_sends", False))
        limit = row.chunk_limit or max(1, account.text_chunk_limit)
        chunker = getattr(account, "chunk_text", None) or chunk_text  # a channel's own (Slack: mrkdwn)
        pieces = chunker(row.text, limit) or [row.text]
        reply_all = bool(getattr(account, "reply_to_all", False))
        if row.sending_at is None:  # marked before the first send, unless the enqueue did it (an idle lane)
            row.sending_at = wall_ms()
            await self.store.run(self.store.db.begin, row.id, row.sending_at)
        for index in range(row.pieces_sent, len(pieces)):
            reply_to = row.reply_to if index == 0 or reply_all else None
            message_id = None
            piece_key = f"{row.key}#{index}"
            if find is not None:
                message_id = await find(row.target, piece_key, since_ms=row.created_at, reply_to=reply_to)
                entry.in_doubt, find = False, None  # only the first piece of this run can have been in flight
            if message_id is None and (getattr(account, "idempotent_sends", False) or marker):
                # The platform drops a repeat (Discord's nonce), or the key tags the message so that
                # ``find_sent`` can find it (Slack's metadata).
                # (the accounts that take a key declare it: ``idempotent_sends`` or a marker)
                message_id = await cast(Any, account).send(row.target, pieces[index], reply_to=reply_to,
                                                           idempotency_key=piece_key)
            elif message_id is None:
                message_id = await account.send(row.target, pieces[index], reply_to=reply_to)
            row.message_id = row.message_id or message_id
            row.pieces_sent, row.chunk_limit = index + 1, limit
            if index + 1 < len(pieces):  # the last one is recorded with the outcome
                await self.store.run(self.store.db.progress, row.id, row.pieces_sent, row.message_id, limit,
                                     wall_ms())

    # --- status ---------------------------------------------------------------------------------

    def _count(self, row: OutboxRow, delta: int) -> None:
        counts = self.counts.setdefault((row.channel, row.account_id), {})
        counts[row.state] = max(0, counts.get(row.state, 0) + delta)
        self._on_change()

    def count_inbound_dead(self, channel: str, account_id: str) -> None:
        counts = self.counts.setdefault((channel, account_id), {})
        counts["inboundDead"] = counts.get("inboundDead", 0) + 1
        self._on_change()

    def account_counts(self, channel: str, account_id: str) -> dict[str, int]:
        counts = self.counts.get((channel, account_id), {})
        return {"pending": counts.get("pending", 0), "delivered": counts.get("delivered", 0),
                "deadLetters": counts.get("dead", 0), "inboundDeadLetters": counts.get("inboundDead", 0)}

    def statistics(self) -> OutboxStatistics:
        return OutboxStatistics(pending=len(self._entries), lanes=len(self._lanes), sent=self.sent,
                                retried=self.retried, dead_lettered=self.dead_lettered, in_doubt=self.in_doubt,
                                store_writes=self.store.writes, store_seconds=self.store.write_seconds)

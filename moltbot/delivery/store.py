"""The delivery database: ``<stateDir>/delivery/delivery.sqlite`` (WAL), schema versioned, retention bounded.

Theory of operation: two tables. ``outbox`` holds one row per outbound message, keyed by its idempotency
key (``send:<key>``, ``reply:<channel>:<account>:<chat>/<message>``, ``cron:<job>:<run>``): a row is written
*before* the first send attempt, so a message that exists at all is either ``delivered`` (with the
channel's message id), ``dead`` (with the reason) or ``pending`` (to be sent, after a restart too).
``piecesSent`` records the chunks of a long message already sent, so a retry resumes after them instead
of sending the first chunk twice. ``inbound`` holds one receipt per inbound message id per account: a
message is ``received`` before the channel acknowledges it (Telegram's offset), ``done`` once its turn
has queued the reply, ``dead`` when it could not be parsed or handled. A second delivery of the same id
finds the receipt and starts no turn, in one run or after any restart.

``DeliveryDB`` is blocking and owns one ``sqlite3`` connection; ``DeliveryStore`` runs every call on a
worker thread through a ``CapacityLimiter(1)``, so there is one writer and the Trio thread never blocks;
calls that queue while the writer is busy go together in its next trip, one transaction (group commit).
WAL with ``synchronous=NORMAL``: a commit survives a killed process (``kill -9``); the last commits
before a power loss may not. Retention: delivered rows are kept ``DELIVERED_KEEP_MS`` (at most
``DELIVERED_MAX``), dead letters ``DEAD_KEEP_MS`` (at most ``DEAD_MAX``), receipts ``RECEIPT_KEEP_MS`` (at
most ``RECEIPTS_MAX`` per account); pending rows are never pruned (the outbox expires them itself).
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from ..store.atomic import ensure_dir

SCHEMA_VERSION = 2
DB_NAME = "delivery.sqlite"
DAY_MS = 24 * 3600 * 1000
DELIVERED_KEEP_MS, DELIVERED_MAX = 7 * DAY_MS, 10_000
DEAD_KEEP_MS, DEAD_MAX = 30 * DAY_MS, 1_000
RECEIPT_KEEP_MS, RECEIPTS_MAX = 14 * DAY_MS, 5_000
MAX_KEY = 200  # longer idempotency keys are stored as a digest
MAX_TEXT = 1024 * 1024
MAX_PAYLOAD = 256 * 1024
MAX_REASON = 500

_SCHEMA = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    target TEXT NOT NULL,
    text BLOB NOT NULL,  -- UTF-8 with lone surrogates kept (an agent's reply can hold one)
    reply_to TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    pieces_sent INTEGER NOT NULL DEFAULT 0,
    chunk_limit INTEGER,
    message_id TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sending_at INTEGER  -- a send of it began then and its outcome is not known yet (NULL: none in flight)
);
CREATE INDEX outbox_by_state ON outbox (state, updated_at);
CREATE TABLE inbound (
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    message_key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('received', 'done', 'dead')),
    payload TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    received_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account_id, message_key)
) WITHOUT ROWID;
CREATE INDEX inbound_by_age ON inbound (channel, account_id, received_at);
"""
# Schema changes go here as ``{from_version: script}``, applied in order inside one transaction.
_MIGRATIONS: dict[int, str] = {1: "ALTER TABLE outbox ADD COLUMN sending_at INTEGER"}

_COLUMNS = ("id", "key", "kind", "channel", "account_id", "target", "text", "reply_to", "state", "attempts",
            "pieces_sent", "chunk_limit", "message_id", "last_error", "created_at", "updated_at", "sending_at")


class StoreError(Exception):
    """The delivery database cannot be used (newer schema, corrupt file); the message names the file."""


@attrs.define
class OutboxRow:
    """One outbound message as stored."""

    id: int
    key: str
    kind: str
    channel: str
    account_id: str
    target: str
    text: str
    reply_to: str | None
    state: str
    attempts: int
    pieces_sent: int
    chunk_limit: int | None
    message_id: str | None
    last_error: str | None
    created_at: int
    updated_at: int
    sending_at: int | None = None  # a send began and its outcome is unknown: after a crash, it is in doubt

    @property
    def in_doubt(self) -> bool:
        """Pending with a send begun whose outcome was never recorded (the process died meanwhile): the
        platform may have it."""
        return self.state == "pending" and self.sending_at is not None

    def snapshot(self) -> dict[str, Any]:
        """The row for ``channels.status`` / ``moltbot channels outbox`` (text shortened)."""
        return {"id": self.id, "key": self.key, "kind": self.kind, "channel": self.channel,
                "accountId": self.account_id, "to": self.target, "state": self.state, "attempts": self.attempts,
                "piecesSent": self.pieces_sent, "messageId": self.message_id, "lastError": self.last_error,
                "createdAt": self.created_at, "updatedAt": self.updated_at, "inDoubt": self.in_doubt,
                "preview": self.text[:80] + ("…" if len(self.text) > 80 else "")}


@attrs.frozen
class Receipt:
    """An inbound message whose turn had not finished when the gateway stopped."""

    channel: str
    account_id: str
    message_key: str
    payload: str | None
    attempts: int


def store_key(key: str) -> str:
    """The idempotency key as stored: bounded (a long one becomes its digest)."""
    if len(key) <= MAX_KEY:
        return _plain(key)
    return _plain(key[:40]) + "#sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _bounded(text: str | None, limit: int = MAX_REASON) -> str | None:
    return None if text is None else _plain(text[:limit])


def _plain(text: str) -> str:
    """``text`` as SQLite can store it: a lone surrogate (which UTF-8 cannot carry) as ``\\udXXX``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _row(values: tuple[Any, ...]) -> OutboxRow:
    row = OutboxRow(*values)
    if isinstance(row.text, bytes):
        row.text = row.text.decode("utf-8", "surrogatepass")
    return row


class DeliveryDB:
    """The blocking database: every method is one transaction. Not thread-safe: one caller at a time."""

    def __init__(self, path: Path | None) -> None:
        """Open (creating, 0700/0600) ``path``, or an in-memory database for ``None`` (no state dir)."""
        self.path = path
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        if path is not None:
            ensure_dir(path.parent)
            path.touch(mode=0o600, exist_ok=True)
        try:
            db = sqlite3.connect(str(path) if path is not None else ":memory:", isolation_level=None,
                                 check_same_thread=False, timeout=10.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._db = db
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"delivery store {path or ':memory:'}: {exc}") from None
        return db

    def close(self) -> None:
        self._db.close()

    close.alone = True  # type: ignore[attr-defined]  # never inside a grouped transaction (``run_batch``)

    def reopen_if_removed(self) -> bool:
        """The file was deleted under us (the state dir removed while the gateway runs): start a new one
        (what is pending is still in the outbox's memory). Closing the old one also lets go of the
        deleted directories, which an open file keeps alive (and a watcher of them unaware)."""
        if self.path is None or self.path.exists():
            return False
        self._db.close()
        self._db = self._connect()
        return True

    reopen_if_removed.alone = True  # type: ignore[attr-defined]

    def run_batch(self, calls: list[Call]) -> None:
        """Run ``calls`` in order, in one transaction (each of them in a savepoint, so one that fails is
        undone alone and gets its own error); ``alone`` methods (``close``) between, outside it."""
        group: list[Call] = []
        for call in calls:
            if getattr(call.fn.func, "alone", False):
                self._run_group(group)
                group = []
                call.run()
            else:
                group.append(call)
        self._run_group(group)

    def _run_group(self, calls: list[Call]) -> None:
        if len(calls) <= 1:  # one call: its own transaction, as it would be alone
            for call in calls:
                call.run()
            return
        try:
            with self._transaction():
                for call in calls:
                    call.run()
        except sqlite3.Error as exc:  # BEGIN or COMMIT failed: nothing of the group is written
            for call in calls:
                call.result, call.error = None, StoreError(f"delivery store {self.path or ':memory:'}: {exc}")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"delivery store {self.path} has schema {version}, newer than this moltbot "
                             f"({SCHEMA_VERSION}); upgrade moltbot or move the file away")
        if version == SCHEMA_VERSION:
            return
        with self._transaction():
            if version == 0:  # ``executescript`` would commit on its own: one statement at a time
                for statement in _statements(_SCHEMA):
                    self._db.execute(statement)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _statements(_MIGRATIONS[step]):
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _transaction(self) -> sqlite3.Connection:
        return _Transaction(self._db)  # type: ignore[return-value]

    # --- outbox ---------------------------------------------------------------------------------

    def enqueue(self, *, key: str, kind: str, channel: str, account_id: str, target: str, text: str,
                reply_to: str | None, now_ms: int, sending: bool = False) -> tuple[OutboxRow, bool]:
        """Write a new pending row; (row, True). A known key returns its row as stored, (row, False).
        ``sending``: its first send begins at once (the mark ``begin`` would write, in this transaction)."""
        if len(text) > MAX_TEXT:
            raise ValueError(f"message too long ({len(text)} characters, at most {MAX_TEXT})")
        key = store_key(key)
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO outbox (key, kind, channel, account_id, target, text, reply_to, state, created_at,"
                " updated_at, sending_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, kind, channel, account_id, _plain(target), _blob(text), _bounded(reply_to), now_ms, now_ms,
                 now_ms if sending else None))
            created = cursor.rowcount == 1
            row = self._row("WHERE key = ?", (key,))
        assert row is not None
        return row, created

    def _row(self, where: str, args: tuple[Any, ...]) -> OutboxRow | None:
        found = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM outbox {where}", args).fetchone()
        return _row(found) if found is not None else None

    def outbox_row(self, key: str) -> OutboxRow | None:
        return self._row("WHERE key = ?", (store_key(key),))

    def begin(self, row_id: int, now_ms: int) -> None:
        """A send of the row begins: until its outcome is recorded, a crash leaves the row in doubt."""
        with self._transaction():
            self._db.execute("UPDATE outbox SET sending_at = ? WHERE id = ?", (now_ms, row_id))

    def progress(self, row_id: int, pieces_sent: int, message_id: str | None, chunk_limit: int, now_ms: int) -> None:
        """Chunks ``< pieces_sent`` are out (a retry resumes after them), and the next one's send begins."""
        with self._transaction():
            self._db.execute("UPDATE outbox SET pieces_sent = ?, message_id = COALESCE(message_id, ?),"
                             " chunk_limit = ?, updated_at = ?, sending_at = ? WHERE id = ?",
                             (pieces_sent, message_id, chunk_limit, now_ms, now_ms, row_id))

    def finish(self, row_id: int, *, state: str, attempts: int, now_ms: int, message_id: str | None = None,
               error: str | None = None, in_doubt: bool = False) -> None:
        """Record an attempt's outcome: ``delivered`` (message id), ``dead`` or still ``pending`` (error;
        ``in_doubt`` when the send may have arrived all the same: a timeout, a connection lost)."""
        with self._transaction():
            self._db.execute("UPDATE outbox SET state = ?, attempts = ?, message_id = COALESCE(?, message_id),"
                             " last_error = ?, updated_at = ?, sending_at = CASE WHEN ? THEN sending_at END"
                             " WHERE id = ?",
                             (state, attempts, message_id, _bounded(error), now_ms, in_doubt, row_id))

    def pending(self) -> list[OutboxRow]:
        """Every pending row, oldest first (what a starting outbox resumes)."""
        return [_row(r) for r in self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE state = 'pending' ORDER BY id").fetchall()]

    def rows(self, *, state: str | None = None, channel: str | None = None, limit: int = 50) -> list[OutboxRow]:
        """Newest first, filtered by state and channel."""
        where, args = [], []
        for column, value in (("state", state), ("channel", channel)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return [_row(r) for r in self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM outbox {clause}ORDER BY id DESC LIMIT ?",
            (*args, max(1, min(limit, 1000)))).fetchall()]

    def requeue(self, row_id: int, now_ms: int) -> bool:
        """A dead letter back to pending (``moltbot channels outbox --retry``); False if not dead."""
        with self._transaction():
            return self._db.execute("UPDATE outbox SET state = 'pending', attempts = 0, sending_at = NULL, updated_at = ?"
                                    " WHERE id = ? AND state = 'dead'", (now_ms, row_id)).rowcount == 1

    def counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """(channel, account) → {pending, delivered, dead, inboundDead}."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for channel, account, state, count in self._db.execute(
                "SELECT channel, account_id, state, COUNT(*) FROM outbox GROUP BY 1, 2, 3"):
            out.setdefault((channel, account), {})[state] = count
        for channel, account, count in self._db.execute(
                "SELECT channel, account_id, COUNT(*) FROM inbound WHERE state = 'dead' GROUP BY 1, 2"):
            out.setdefault((channel, account), {})["inboundDead"] = count
        return out

    # --- inbound receipts -----------------------------------------------------------------------

    def claim(self, channel: str, account_id: str, message_key: str, payload: str | None, now_ms: int, *,
              state: str = "received") -> bool:
        """Record a receipt for a new inbound message; False when its id was seen before."""
        with self._transaction():
            return self._claim(channel, account_id, message_key, payload, now_ms, state)

    def claim_many(self, items: list[tuple[str, str, str, str | None]], now_ms: int) -> list[bool]:
        """``claim`` for (channel, account, key, payload) items in one transaction: True for each new one."""
        with self._transaction():
            return [self._claim(channel, account_id, key, payload, now_ms, "received")
                    for channel, account_id, key, payload in items]

    def _claim(self, channel: str, account_id: str, message_key: str, payload: str | None, now_ms: int,
               state: str) -> bool:
        payload = payload if payload is None or len(payload) <= MAX_PAYLOAD else None
        return self._db.execute(
            "INSERT INTO inbound (channel, account_id, message_key, state, payload, received_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (channel, account_id, _plain(message_key), state, payload, now_ms, now_ms)).rowcount == 1

    def settle(self, channel: str, account_id: str, message_key: str, *, state: str, now_ms: int,
               reason: str | None = None) -> None:
        """A receipt's turn ended: ``done``, or ``dead`` with the reason (inserted if it had none)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO inbound (channel, account_id, message_key, state, reason, received_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET state = excluded.state,"
                " reason = excluded.reason, updated_at = excluded.updated_at,"
                " payload = CASE WHEN excluded.state = 'done' THEN NULL ELSE payload END",
                (channel, account_id, _plain(message_key), state, _bounded(reason), now_ms, now_ms))

    def unfinished(self) -> list[Receipt]:
        """Receipts still ``received`` (their turn was cut short), with the times they were handled again."""
        return [Receipt(*r) for r in self._db.execute(
            "SELECT channel, account_id, message_key, payload, attempts FROM inbound"
            " WHERE state = 'received' ORDER BY received_at").fetchall()]

    def count_attempt(self, channel: str, account_id: str, message_key: str, now_ms: int, delta: int = 1) -> None:
        """A received message is handled again (counted only when it is, not at every start); ``delta``
        -1 takes one back (never below 0)."""
        with self._transaction():
            self._db.execute("UPDATE inbound SET attempts = MAX(0, attempts + ?), updated_at = ? WHERE channel = ?"
                             " AND account_id = ? AND message_key = ? AND state = 'received'",
                             (delta, now_ms, channel, account_id, _plain(message_key)))

    def dead_receipts(self, limit: int = 50) -> list[dict[str, Any]]:
        return [{"channel": c, "accountId": a, "messageKey": k, "reason": r, "attempts": n, "receivedAt": t}
                for c, a, k, r, n, t in self._db.execute(
                    "SELECT channel, account_id, message_key, reason, attempts, received_at FROM inbound"
                    " WHERE state = 'dead' ORDER BY updated_at DESC LIMIT ?", (max(1, min(limit, 1000)),))]

    # --- retention ------------------------------------------------------------------------------

    def prune(self, now_ms: int) -> int:
        """Apply the retention bounds; the number of rows removed."""
        removed = 0
        with self._transaction():
            for state, keep_ms, most in (("delivered", DELIVERED_KEEP_MS, DELIVERED_MAX),
                                         ("dead", DEAD_KEEP_MS, DEAD_MAX)):
                removed += self._db.execute(
                    "DELETE FROM outbox WHERE state = ? AND (updated_at < ? OR id NOT IN"
                    " (SELECT id FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?))",
                    (state, now_ms - keep_ms, state, most)).rowcount
            removed += self._db.execute("DELETE FROM inbound WHERE state != 'received' AND received_at < ?",
                                        (now_ms - RECEIPT_KEEP_MS,)).rowcount
            for channel, account, count in self._db.execute(
                    "SELECT channel, account_id, COUNT(*) FROM inbound GROUP BY 1, 2").fetchall():
                if count > RECEIPTS_MAX:
                    removed += self._db.execute(
                        "DELETE FROM inbound WHERE channel = ? AND account_id = ? AND state != 'received' AND"
                        " message_key IN (SELECT message_key FROM inbound WHERE channel = ? AND account_id = ?"
                        " ORDER BY received_at LIMIT ?)",
                        (channel, account, channel, account, count - RECEIPTS_MAX)).rowcount
        return removed


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): the connection runs in autocommit mode.
    Inside a transaction already (a grouped one, ``run_batch``): a savepoint, released or rolled back to."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._nested = False

    def __enter__(self) -> None:
        self._nested = self._db.in_transaction
        self._db.execute("SAVEPOINT call" if self._nested else "BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        if not self._nested:
            self._db.execute("COMMIT" if kind is None else "ROLLBACK")
            return
        if kind is not None:
            self._db.execute("ROLLBACK TO call")
        self._db.execute("RELEASE call")


@attrs.define(eq=False)
class Call:
    """One ``DeliveryStore.run`` call: taken by the writer that runs it, then its result or error."""

    fn: functools.partial[Any]
    taken: bool = False
    done: bool = False
    result: Any = None
    error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except Exception as exc:
            self.error = exc
        finally:
            self.done = True


T = TypeVar("T")


class DeliveryStore:
    """``DeliveryDB`` from Trio: on a worker thread, one trip at a time (one writer), calls grouped.

    Group commit: calls made while the writer is busy wait in a queue, and the next trip runs every call
    queued by then (up to ``MAX_GROUP``) in one transaction, each in its own savepoint. Each caller still
    gets its own result (or error) once its call is committed, so what a caller was told is durable is; a
    caller cancelled before its call was taken never runs it, and a trip once begun runs every call it took
    even if the caller that made it is cancelled. Under load (100 chats answered at once)
    a transaction carries many messages' writes instead of one."""

    MAX_GROUP = 256

    def __init__(self, db: DeliveryDB) -> None:
        self.db = db
        self._limiter = trio.CapacityLimiter(1)
        self._queue: list[Call] = []
        self.writes = 0  # calls
        self.transactions = 0  # worker-thread trips (one transaction each, or fewer for the calls that only read)
        self.write_seconds = 0.0

    @classmethod
    async def open(cls, state_dir: Path | None) -> DeliveryStore:
        path = state_dir / "delivery" / DB_NAME if state_dir is not None else None
        return cls(await trio.to_thread.run_sync(DeliveryDB, path))

    async def aclose(self) -> None:
        await self.run(self.db.close)

    def statistics(self) -> trio.CapacityLimiterStatistics:
        """The writer's: ``borrowed_tokens`` 1 while a trip runs, ``tasks_waiting`` the callers queued."""
        return self._limiter.statistics()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the worker thread, grouped with the calls queued beside it; the time
        it took (queued included) is counted in ``write_seconds``."""
        started = trio.current_time()
        call = Call(functools.partial(fn, *args, **kwargs))
        self._queue.append(call)
        try:
            async with self._limiter:
                if not call.taken:  # else an earlier trip ran it (we waited for that trip to end)
                    group, self._queue = self._queue[:self.MAX_GROUP], self._queue[self.MAX_GROUP:]
                    for each in group:
                        each.taken = True
                    self.transactions += 1
                    # Shielded: the group holds other callers' calls (a stopping handler's shielded
                    # ``count_attempt``), and ``to_thread`` can be cancelled before its thread starts.
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(self.db.run_batch, group)
        except BaseException:
            if not call.taken:  # cancelled while waiting: never run
                self._queue.remove(call)
            raise
        finally:
            self.writes += 1
            self.write_seconds += trio.current_time() - started
        if call.error is not None:
            raise call.error
        if not call.done:  # its trip ended before reaching it (the thread raised past the calls)
            raise StoreError(f"delivery store {self.db.path or ':memory:'}: the call was not run")
        return call.result

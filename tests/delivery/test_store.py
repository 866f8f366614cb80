"""The delivery database on its own: idempotency keys, receipts, schema version, retention, file modes."""

from __future__ import annotations

import functools
import sqlite3
import stat

import pytest

from moltbot.delivery import store as store_module
from moltbot.delivery.store import DB_NAME, SCHEMA_VERSION, DeliveryDB, StoreError, store_key

NOW = 1_800_000_000_000


def enqueue(db: DeliveryDB, key: str, text: str = "hi", now_ms: int = NOW):
    return db.enqueue(key=key, kind="send", channel="telegram", account_id="default", target="42", text=text,
                      reply_to=None, now_ms=now_ms)


def test_one_idempotency_key_is_one_row_whatever_the_second_text(tmp_path):
    db = DeliveryDB(tmp_path / "delivery" / DB_NAME)
    row, created = enqueue(db, "send:k1")
    again, created_again = enqueue(db, "send:k1", text="something else")
    assert (created, created_again) == (True, False)
    assert again.id == row.id and again.text == "hi" and again.state == "pending"
    db.finish(row.id, state="delivered", attempts=1, now_ms=NOW, message_id="100")
    assert enqueue(db, "send:k1")[0].message_id == "100"
    assert [r.key for r in db.pending()] == []


def test_a_long_key_is_stored_as_its_digest_and_still_deduplicates(tmp_path):
    db = DeliveryDB(tmp_path / DB_NAME)
    key = "send:" + "x" * 5000
    assert len(store_key(key)) < 200 and store_key(key) != store_key(key + "y")
    assert enqueue(db, key)[1] is True and enqueue(db, key)[1] is False


def test_the_file_is_private_and_the_schema_versioned(tmp_path):
    path = tmp_path / "delivery" / DB_NAME
    DeliveryDB(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this moltbot"):
        DeliveryDB(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / DB_NAME
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match=str(path)):
        DeliveryDB(path)


def test_receipts_deduplicate_and_count_the_times_they_were_handled_again(tmp_path):
    path = tmp_path / DB_NAME
    db = DeliveryDB(path)
    assert db.claim("telegram", "default", "42/1001", '{"x": 1}', NOW) is True
    assert db.claim("telegram", "default", "42/1001", '{"x": 1}', NOW) is False
    assert db.claim("telegram", "other", "42/1001", None, NOW) is True  # per account
    db.settle("telegram", "other", "42/1001", state="done", now_ms=NOW)
    db.close()
    db = DeliveryDB(path)  # a restart: the receipt is still there
    assert db.claim("telegram", "default", "42/1001", None, NOW) is False
    assert [(r.message_key, r.attempts) for r in db.unfinished()] == [("42/1001", 0)]
    assert [(r.message_key, r.attempts) for r in db.unfinished()] == [("42/1001", 0)]  # a start is no attempt
    db.count_attempt("telegram", "default", "42/1001", NOW)
    assert [(r.message_key, r.attempts) for r in db.unfinished()] == [("42/1001", 1)]
    db.settle("telegram", "default", "update:7", state="dead", now_ms=NOW, reason="unreadable update")
    assert db.dead_receipts()[0]["messageKey"] == "update:7"
    assert db.counts()[("telegram", "default")] == {"inboundDead": 1}


def test_retention_keeps_pending_and_bounds_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "DELIVERED_MAX", 3)
    db = DeliveryDB(tmp_path / DB_NAME)
    old = NOW - store_module.DEAD_KEEP_MS - 1
    for index in range(5):
        row, _ = enqueue(db, f"send:{index}")
        db.finish(row.id, state="delivered", attempts=1, now_ms=NOW)
    stale, _ = enqueue(db, "send:dead", now_ms=old)
    db.finish(stale.id, state="dead", attempts=1, now_ms=old, error="chat not found")
    waiting, _ = enqueue(db, "send:pending", now_ms=old)
    db.claim("telegram", "default", "old", None, old)
    db.settle("telegram", "default", "old", state="done", now_ms=old)
    assert db.prune(NOW) == 2 + 1 + 1
    assert [r.key for r in db.rows(state="delivered")] == ["send:4", "send:3", "send:2"]
    assert [r.key for r in db.pending()] == ["send:pending"]
    assert db.claim("telegram", "default", "old", None, NOW) is True  # its receipt has expired


def test_a_dead_letter_can_be_queued_again(tmp_path):
    db = DeliveryDB(tmp_path / DB_NAME)
    row, _ = enqueue(db, "send:k")
    db.finish(row.id, state="dead", attempts=3, now_ms=NOW, error="bot was blocked")
    assert db.requeue(row.id, NOW) is True and db.requeue(row.id, NOW) is False
    assert [(r.key, r.attempts) for r in db.pending()] == [("send:k", 0)]


async def test_a_key_claimed_by_a_caller_without_a_message_is_never_resumed(tmp_path):
    from moltbot.delivery.receipts import Receipts
    from moltbot.delivery.store import DeliveryStore

    store = await DeliveryStore.open(tmp_path)
    receipts = Receipts(store)
    try:
        assert await receipts.claim_key("webchat", "default", "chat.send:k1") is True
        assert await receipts.claim_key("webchat", "default", "chat.send:k1") is False
        assert await receipts.resume() == [] and receipts.dead == 0
    finally:
        await store.aclose()


async def test_calls_queued_behind_the_writer_share_one_transaction_and_a_failing_one_is_undone_alone(tmp_path):
    import threading

    import trio

    from moltbot.delivery.store import DeliveryStore

    store = await DeliveryStore.open(tmp_path)
    db, free = store.db, threading.Event()
    results: dict[str, object] = {}

    async def call(name, fn, *args, **kwargs):
        try:
            results[name] = await store.run(fn, *args, **kwargs)
        except Exception as exc:
            results[name] = exc

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store.run, free.wait)  # the writer is busy
                try:
                    await _filled(store, 0)
                    for index in range(10):
                        nursery.start_soon(functools.partial(
                            call, f"m{index}", db.enqueue, key=f"send:{index}", kind="send", channel="telegram",
                            account_id="default", target="42", text="hi", reply_to=None, now_ms=NOW))
                    # A CHECK constraint fails inside the group: only this call is rolled back.
                    nursery.start_soon(functools.partial(call, "bad", db.settle, "telegram", "default", "1/1",
                                                         state="bogus", now_ms=NOW))
                    nursery.start_soon(call, "claim", db.claim, "telegram", "default", "1/2", None, NOW)
                    await _filled(store, 12)
                    trips = store.transactions  # the blocker's trip has begun (it took its token first)
                finally:
                    free.set()  # inside the nursery: it waits for the worker thread
        grouped = store.transactions - trips
    finally:
        free.set()
        await store.aclose()
    assert grouped == 1  # twelve calls, one trip to the worker, one transaction
    assert isinstance(results["bad"], sqlite3.IntegrityError) and results["claim"] is True
    assert all(results[f"m{index}"][1] is True for index in range(10))  # type: ignore[index]
    reopened = DeliveryDB(tmp_path / "delivery" / DB_NAME)
    assert len(reopened.pending()) == 10 and reopened.claim("telegram", "default", "1/2", None, NOW) is False


async def test_a_call_cancelled_while_it_waits_for_the_writer_never_runs(tmp_path):
    import threading

    import trio

    from moltbot.delivery.store import DeliveryStore

    store = await DeliveryStore.open(tmp_path)
    free = threading.Event()
    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store.run, free.wait)
                try:
                    await _filled(store, 0)
                    with trio.move_on_after(0.05):
                        await store.run(store.db.claim, "telegram", "default", "9/9", None, NOW)
                finally:
                    free.set()
            assert await store.run(store.db.claim, "telegram", "default", "9/9", None, NOW) is True
    finally:
        free.set()
        await store.aclose()


async def _filled(store, waiting: int) -> None:
    """Until the writer is busy and ``waiting`` callers queue behind it (the caller's deadline bounds it)."""
    import trio

    while store.statistics().borrowed_tokens == 0 or store.statistics().tasks_waiting < waiting:  # noqa: ASYNC110
        await trio.sleep(0.01)


async def test_a_trip_whose_caller_is_cancelled_before_its_thread_starts_still_runs_the_calls_it_took(
    tmp_path, monkeypatch
):
    # The caller that makes a trip takes every call queued behind the writer. ``to_thread.run_sync`` can
    # be cancelled before its thread starts (waiting for a thread token): the other callers' calls (here
    # a shielded one, as a stopping handler's ``count_attempt(-1)``) must run all the same, not fail with
    # "the call was not run".
    import threading

    import trio

    from moltbot.delivery.store import DeliveryStore

    store = await DeliveryStore.open(tmp_path)
    free, go, reached = threading.Event(), trio.Event(), trio.Event()
    real, trips = trio.to_thread.run_sync, []

    async def thread_token_late(fn, *args, **kwargs):
        if fn == store.db.run_batch:
            trips.append(len(args[0]))
            if len(trips) == 2:  # the second trip waits for a thread token, as under load
                reached.set()
                await go.wait()
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(trio.to_thread, "run_sync", thread_token_late)
    results: dict[str, object] = {}
    owner = trio.CancelScope()

    async def cancellable() -> None:
        with owner:
            results["owner"] = await store.run(store.db.claim, "telegram", "default", "1/1", None, NOW)

    async def shielded() -> None:
        with trio.CancelScope(shield=True):
            try:
                results["beside"] = await store.run(store.db.claim, "telegram", "default", "1/2", None, NOW)
            except StoreError as exc:
                results["beside"] = exc

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store.run, free.wait)  # the writer is busy
                try:
                    await _filled(store, 0)
                    nursery.start_soon(cancellable)
                    await _filled(store, 1)
                    nursery.start_soon(shielded)
                    await _filled(store, 2)
                finally:
                    free.set()
                await reached.wait()  # the cancellable caller's trip took both calls
                owner.cancel()
                await trio.testing.wait_all_tasks_blocked()
                go.set()
    finally:
        free.set()
        monkeypatch.undo()
        await store.aclose()
    assert trips[1] == 2
    assert results["beside"] is True
    reopened = DeliveryDB(tmp_path / "delivery" / DB_NAME)
    assert reopened.claim("telegram", "default", "1/2", None, NOW) is False
    assert reopened.claim("telegram", "default", "1/1", None, NOW) is False  # the cancelled caller's too

"""The outbox over a scripted account: retry with backoff, dead letters, chunk resumption, lanes, restarts."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
import trio

from moltbot.channels.base import Backoff, DeliveryError
from moltbot.delivery import outbox as outbox_module
from moltbot.delivery.outbox import DeliveryQueued, Outbox
from moltbot.delivery.store import DB_NAME, DeliveryDB, DeliveryStore


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(outbox_module, "BACKOFF", Backoff(initial=0.01, maximum=0.05, jitter=0.0))


class Account:
    """A channel account whose sends fail as scripted (an exception per call, ``None`` = succeed)."""

    channel = "telegram"
    account_id = "default"

    def __init__(self, limit: int = 4000, script=()):
        self.text_chunk_limit = limit
        self.script = list(script)
        self.sent: list[tuple[str, str, str | None]] = []
        self.calls = 0

    async def send(self, target, text, *, reply_to=None):
        self.calls += 1
        failure = self.script.pop(0) if self.script else None
        if failure is not None:
            raise failure
        self.sent.append((target, text, reply_to))
        return str(len(self.sent))


@asynccontextmanager
async def running_outbox(tmp_path, account, *, resolve=None):
    store = await DeliveryStore.open(tmp_path)
    outbox = Outbox(store, resolve or (lambda channel, account_id: account))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(outbox.serve)
            yield outbox
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await store.aclose()


def message(key="send:k1", text="hello", target="42", **extra):
    return {"key": key, "kind": "send", "channel": "telegram", "account_id": "default", "target": target,
            "text": text, **extra}


async def test_a_transient_failure_is_retried_until_delivered(tmp_path):
    account = Account(script=[DeliveryError("telegram 502: Bad Gateway"), DeliveryError("timeout")])
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            with pytest.raises(DeliveryQueued, match=r"queued for retry \(attempt [12]\): (telegram 502|timeout)"):
                await outbox.deliver(**message())
            await outbox.wait_idle()
            row = await outbox.store.run(outbox.store.db.outbox_row, "send:k1")
    assert (row.state, row.attempts, row.message_id, row.last_error) == ("delivered", 3, "1", None)
    assert account.sent == [("42", "hello", None)]
    assert outbox.statistics().retried == 2


async def test_a_permanent_failure_is_dead_lettered_and_the_lane_goes_on(tmp_path):
    account = Account(script=[DeliveryError("telegram 403: Forbidden: bot was blocked by the user", permanent=True)])
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            with pytest.raises(DeliveryError, match="bot was blocked") as caught:
                await outbox.deliver(**message())
            assert not isinstance(caught.value, DeliveryQueued)
            second = await outbox.deliver(**message(key="send:k2", text="next"))
            counts = outbox.account_counts("telegram", "default")
    assert second.state == "delivered" and account.sent == [("42", "next", None)]
    assert counts == {"pending": 0, "delivered": 1, "deadLetters": 1, "inboundDeadLetters": 0}


async def test_a_retry_resumes_after_the_chunks_already_sent(tmp_path):
    account = Account(limit=5, script=[None, DeliveryError("connection reset")])
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            with pytest.raises(DeliveryQueued):
                await outbox.deliver(**message(text="aaaa bbbb cccc", reply_to="7"))
            await outbox.wait_idle()
    assert account.sent == [("42", "aaaa", "7"), ("42", "bbbb", None), ("42", "cccc", None)]


async def test_messages_to_one_chat_keep_their_order_while_another_chat_goes_ahead(tmp_path):
    account = Account(script=[DeliveryError("slow")])
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            for index in range(3):
                await outbox.submit(**message(key=f"send:a{index}", text=f"a{index}", target="1"))
            await outbox.submit(**message(key="send:b", text="b", target="2"))
            await outbox.wait_idle()
    to_one = [text for target, text, _ in account.sent if target == "1"]
    assert to_one == ["a0", "a1", "a2"]
    assert [text for target, text, _ in account.sent].index("b") < 3  # not held behind chat 1's retry


async def test_a_message_written_before_a_restart_is_sent_once_after_it(tmp_path):
    down = Account()

    def unavailable(channel, account_id):
        raise DeliveryError("telegram account default is not available: not connected")

    with trio.fail_after(10):
        async with running_outbox(tmp_path, down, resolve=unavailable) as outbox:
            with pytest.raises(DeliveryQueued):
                await outbox.deliver(**message(), wait=0.0)
        up = Account()
        async with running_outbox(tmp_path, up) as outbox:
            await outbox.wait_idle()
            again = await outbox.deliver(**message())  # the same key, asked again: the stored result
        async with running_outbox(tmp_path, up) as outbox:
            await outbox.wait_idle()
    assert up.sent == [("42", "hello", None)] and again.message_id == "1"


async def test_concurrent_submits_of_one_key_share_one_send(tmp_path):
    account = Account()
    results = []
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    async def one():
                        results.append((await outbox.deliver(**message())).message_id)
                    nursery.start_soon(one)
    assert results == ["1"] * 5 and account.calls == 1


async def test_poke_retries_at_once_instead_of_after_the_backoff(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox_module, "BACKOFF", Backoff(initial=3600.0, maximum=3600.0, jitter=0.0))
    account = Account(script=[DeliveryError("not connected")])
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            with pytest.raises(DeliveryQueued):
                await outbox.deliver(**message())
            outbox.poke("telegram", "default")
            await outbox.wait_idle()
    assert account.sent == [("42", "hello", None)]


async def test_a_message_too_long_to_store_is_refused_with_the_reason(tmp_path):
    with trio.fail_after(10):
        async with running_outbox(tmp_path, Account()) as outbox:
            with pytest.raises(DeliveryError, match="message too long"):
                await outbox.deliver(**message(text="x" * (2 * 1024 * 1024)))


async def test_a_send_in_flight_when_the_process_died_is_in_doubt_and_sent_again_at_least_once(tmp_path):
    """Telegram cannot tell whether a send arrived: the row the killed run had begun sending is in doubt
    (counted, sent again: at least once), the one queued behind it was never begun (sent, no doubt)."""
    raw = DeliveryDB(tmp_path / "delivery" / DB_NAME)
    raw.enqueue(key="reply:a", kind="reply", channel="telegram", account_id="default", target="42", text="begun",
                reply_to=None, now_ms=1, sending=True)
    raw.enqueue(key="reply:b", kind="reply", channel="telegram", account_id="default", target="42", text="queued",
                reply_to=None, now_ms=2)
    raw.close()
    account = Account()
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            await outbox.wait_idle()
            stats = outbox.statistics()
            rows = {key: outbox.store.db.outbox_row(key) for key in ("reply:a", "reply:b")}
    assert [text for _, text, _ in account.sent] == ["begun", "queued"]
    assert stats.in_doubt == 1
    assert all(row is not None and row.state == "delivered" and not row.in_doubt for row in rows.values())


async def test_a_failure_that_may_have_arrived_keeps_the_row_in_doubt_and_a_refusal_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox_module, "BACKOFF", Backoff(initial=60.0, maximum=60.0, jitter=0.0))
    account = Account(script=[DeliveryError("telegram: read timeout", unsure=True),
                              DeliveryError("telegram 502: bad gateway")])
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            for key in ("send:unsure", "send:refused"):
                with pytest.raises(DeliveryQueued):
                    await outbox.deliver(**message(key=key, target=key))
            rows = {key: outbox.store.db.outbox_row(key) for key in ("send:unsure", "send:refused")}
    assert rows["send:unsure"] is not None and rows["send:unsure"].in_doubt
    assert rows["send:refused"] is not None and not rows["send:refused"].in_doubt


async def test_a_send_that_got_no_answer_is_looked_up_before_it_is_sent_again(tmp_path):
    class Marked(Account):
        marks_sends = True

        def __init__(self):
            super().__init__(script=[DeliveryError("read timeout", unsure=True)])
            self.looked_up: list[str] = []

        async def send(self, target, text, *, reply_to=None, idempotency_key=None):
            return await super().send(target, text, reply_to=reply_to)

        async def find_sent(self, target, idempotency_key, *, since_ms, reply_to=None):
            self.looked_up.append(idempotency_key)
            return "ts-1"  # the platform had it: the timed-out send arrived

    account = Marked()
    with trio.fail_after(10):
        async with running_outbox(tmp_path, account) as outbox:
            with pytest.raises(DeliveryQueued):
                await outbox.deliver(**message(), wait=0.0)
            await outbox.wait_idle()
            row = outbox.store.db.outbox_row("send:k1")
    assert account.calls == 1 and account.looked_up == ["send:k1#0"]
    assert row is not None and row.state == "delivered" and row.message_id == "ts-1" and not row.in_doubt

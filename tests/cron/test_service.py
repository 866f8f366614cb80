"""The scheduler on the trio clock (MockClock): exact instants, restarts, catch-up, failures, reloads.

Runs use ``MemoryCronStore``, so no worker threads are involved and ``autojump_clock`` (threshold 0) skips
every sleep: a year of schedule takes milliseconds of real time.
"""

import functools
import math
import time
from datetime import date, timedelta

import attrs
import pytest
import trio

from moltbot.cron.host import TurnResult
from moltbot.cron.service import REFUSED_RETRY_MS, CronService
from moltbot.cron.store import CronStoreError, MemoryCronStore
from moltbot.protocol import ProtocolError
from tests.cron.conftest import RecordingHost, WallClock, add_params, ms, refuse

MINUTE = 60_000
HOUR = 60 * MINUTE


@attrs.define
class Process:
    """One gateway process at a time over a shared store: ``start`` a service, ``stop`` it (stop or crash)."""

    nursery: trio.Nursery
    clock: WallClock
    host: RecordingHost
    store: MemoryCronStore = attrs.field(factory=MemoryCronStore)
    recheck: float = math.inf
    service: CronService | None = None
    _scope: trio.CancelScope | None = None
    _ended: trio.Event | None = None

    async def start(self) -> CronService:
        service = CronService(self.store, self.host, now_ms=self.clock, recheck=self.recheck)
        scope, ended = self._scope, self._ended = trio.CancelScope(), trio.Event()

        async def run(task_status=trio.TASK_STATUS_IGNORED):
            try:
                with scope:
                    await service.serve(task_status=task_status)
            finally:
                ended.set()

        await self.nursery.start(run)
        self.service = service
        return service

    async def stop(self) -> None:
        self._scope.cancel()
        await self._ended.wait()


@pytest.fixture
def process(nursery):
    return lambda start_ms, **kwargs: Process(nursery, (clock := WallClock(start_ms)), RecordingHost(clock), **kwargs)


def every(minutes: int, **fields):
    return add_params(name=f"every {minutes}m", schedule={"everyMs": minutes * MINUTE},
                      payload={"text": f"tick {minutes}"}, **fields)


def times(host: RecordingHost, start: int, text_prefix: str = "tick") -> list[float]:
    """Minutes after ``start`` at which system events starting with ``text_prefix`` were queued."""
    return [(at - start) / MINUTE for at, text in host.system_events if text.startswith(text_prefix)]


async def test_a_year_of_weekday_mornings_in_berlin_runs_on_exactly_the_right_instants(autojump_clock, process):
    gateway = process(ms("2025-01-01T00:00:00"))
    service = await gateway.start()
    await service.add(add_params(name="standup", payload={"text": "standup"},
                                 schedule={"kind": "cron", "expr": "0 9 * * 1-5", "tz": "Europe/Berlin"}))
    real = time.perf_counter()
    await gateway.clock.sleep_until_ms(ms("2026-01-01T00:00:00"))
    elapsed = time.perf_counter() - real
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(365)]
    expected = [ms(f"{day.isoformat()}T09:00:00") for day in days if day.weekday() < 5]
    assert [at for at, _ in gateway.host.system_events] == expected  # 261 runs, DST changes included
    assert ms("2025-03-31T09:00:00") - ms("2025-03-28T09:00:00") == 3 * 86_400_000 - HOUR
    assert len(gateway.store.runs[next(iter(service.jobs))]) == 261
    assert elapsed < 3, f"a simulated year took {elapsed:.2f} s of real time"


async def test_every_job_runs_on_its_grid_and_new_jobs_wake_the_scheduler(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    service = await gateway.start()
    await service.add(add_params(name="daily", schedule={"everyMs": 24 * HOUR}, payload={"text": "daily"}))
    await gateway.clock.sleep_until_ms(start + 10 * MINUTE)
    await service.add(every(7))  # the scheduler was asleep until tomorrow: this must wake it
    await gateway.clock.sleep_until_ms(start + 40 * MINUTE)
    assert times(gateway.host, start) == [17, 24, 31, 38]


async def test_one_shot_runs_once_then_is_disabled_or_removed(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    service = await gateway.start()
    kept = await service.add(add_params(name="once", schedule={"at": "2025-06-01T10:05:00Z"}, payload={"text": "a"}))
    gone = await service.add(add_params(name="gone", schedule={"atMs": start + 5 * MINUTE}, deleteAfterRun=True,
                                        payload={"text": "b"}))
    await gateway.clock.sleep_until_ms(start + HOUR)
    assert times(gateway.host, start, "") == [5, 5]
    assert not service.jobs[kept.id].enabled and gone.id not in service.jobs
    assert gateway.host.actions(gone.id) == ["added", "started", "finished", "removed"]


async def test_run_now_due_or_forced(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    service = await gateway.start()
    job = await service.add(every(10))
    assert (await service.run(job.id)).reason == "not-due"
    assert (await service.run(job.id, force=True)).ran
    assert service.jobs[job.id].state.next_run_at_ms == start + 10 * MINUTE  # a forced run keeps the grid
    with pytest.raises(ProtocolError, match="unknown cron job id: nope"):
        await service.run("nope")


async def test_run_reports_a_job_already_running(autojump_clock, process):
    gateway = process(ms("2025-06-01T12:00:00"))
    release = trio.Event()

    async def slow(request):
        request.started = True
        await release.wait()
        return TurnResult(ok=True, text="done")

    gateway.host.turn = slow
    service = await gateway.start()
    job = await service.add(add_params(name="iso", schedule={"everyMs": HOUR}, payload={"message": "m"}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(service.run, job.id, force=True))
        await trio.sleep(1)
        assert (await service.run(job.id, force=True)).reason == "already-running"
        release.set()
    assert len(gateway.host.turns) == 1


# --- restarts: runs missed while the gateway was down are caught up once ---------------------------


async def test_runs_missed_while_down_are_caught_up_once_at_start(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    await (await gateway.start()).add(every(10))
    await gateway.clock.sleep_until_ms(start + 5 * MINUTE)
    await gateway.stop()
    await gateway.clock.sleep_until_ms(start + 32 * MINUTE)  # down: 10, 20 and 30 were missed
    await gateway.start()
    await gateway.clock.sleep_until_ms(start + 55 * MINUTE)
    assert times(gateway.host, start) == [32, 40, 50]


async def test_runs_missed_while_down_are_skipped_and_logged_when_catch_up_is_off(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    job = await (await gateway.start()).add(every(10, catchUp=False))
    await gateway.stop()
    await gateway.clock.sleep_until_ms(start + 32 * MINUTE)
    await gateway.start()
    await gateway.clock.sleep_until_ms(start + 55 * MINUTE)
    assert times(gateway.host, start) == [40, 50]
    skipped = gateway.store.runs[job.id][0]
    assert (skipped.status, skipped.run_at_ms) == ("skipped", start + 10 * MINUTE) and "catchUp" in skipped.error


async def test_a_job_due_during_a_restart_runs_exactly_once(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    job = await (await gateway.start()).add(every(10))
    await gateway.clock.sleep_until_ms(start + 10 * MINUTE - 1000)
    await gateway.stop()
    await gateway.clock.sleep_until_ms(start + 10 * MINUTE + 1500)
    service = await gateway.start()
    await gateway.clock.sleep_until_ms(start + 25 * MINUTE)
    assert times(gateway.host, start) == [10.025, 20]
    assert service.jobs[job.id].state.next_run_at_ms == start + 30 * MINUTE


async def test_rapid_restarts_never_move_the_next_run(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    job = await (await gateway.start()).add(every(60))
    for n in range(1, 30):
        await gateway.stop()
        await gateway.clock.sleep_until_ms(start + n * 2 * MINUTE)
        service = await gateway.start()
        assert service.jobs[job.id].state.next_run_at_ms == start + HOUR
    await gateway.clock.sleep_until_ms(start + 2 * HOUR + MINUTE)
    assert times(gateway.host, start) == [60, 120]


async def test_a_run_interrupted_by_a_stop_is_recorded_and_not_repeated(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)

    async def hang(request):
        request.started = True
        await trio.sleep_forever()

    gateway.host.turn = hang
    job = await (await gateway.start()).add(add_params(name="iso", schedule={"everyMs": HOUR},
                                                       payload={"message": "m"}))
    await gateway.clock.sleep_until_ms(start + HOUR + MINUTE)
    await gateway.stop()
    gateway.host.turn = None
    service = await gateway.start()
    await gateway.clock.sleep_until_ms(start + 2 * HOUR - MINUTE)
    assert len(gateway.host.turns) == 1
    (entry,) = gateway.store.runs[job.id]
    assert entry.status == "error" and "interrupted" in entry.error
    assert service.jobs[job.id].state.next_run_at_ms == start + 2 * HOUR


async def test_a_crash_after_the_claim_never_runs_the_job_twice(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    crash_image: list = []

    async def snapshot(request):  # what a SIGKILL during the turn would leave on disk
        crash_image.extend(gateway.store.jobs)
        request.started = True
        await trio.lowlevel.checkpoint()
        return TurnResult(ok=True, text="done")

    gateway.host.turn = snapshot
    job = await (await gateway.start()).add(add_params(name="iso", schedule={"everyMs": HOUR},
                                                       payload={"message": "m"}))
    await gateway.clock.sleep_until_ms(start + HOUR + MINUTE)
    await gateway.stop()
    gateway.store = MemoryCronStore(crash_image)
    service = await gateway.start()
    await gateway.clock.sleep_until_ms(start + 2 * HOUR - MINUTE)
    assert len(gateway.host.turns) == 1
    assert [e.status for e in gateway.store.runs[job.id]] == ["error"]  # recorded as interrupted
    assert service.jobs[job.id].state.last_status == "error"


async def test_a_refused_turn_gives_its_occurrence_back(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    gateway.host.turn = refuse
    service = await gateway.start()
    job = await service.add(add_params(name="iso", schedule={"everyMs": HOUR}, payload={"message": "m"}))
    await gateway.clock.sleep_until_ms(start + HOUR + 1000)
    assert gateway.store.jobs[0].state.next_run_at_ms == start + HOUR  # still owed, on disk too
    gateway.host.turn = None
    await gateway.clock.sleep_until_ms(start + HOUR + REFUSED_RETRY_MS + 1000)
    assert [(at - start) / 1000 for at, _ in gateway.host.turns] == [3600, 3600 + REFUSED_RETRY_MS / 1000]
    assert [e.status for e in gateway.store.runs[job.id]] == ["ok"]


# --- failures --------------------------------------------------------------------------------------


async def test_a_failing_run_is_recorded_and_the_job_keeps_firing(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    failures = [RuntimeError("model exploded")]

    async def flaky(request):
        request.started = True
        await trio.lowlevel.checkpoint()
        if failures:
            raise failures.pop()
        return TurnResult(ok=True, text="fine")

    gateway.host.turn = flaky
    job = await (await gateway.start()).add(add_params(name="iso", schedule={"everyMs": HOUR},
                                                       payload={"message": "m"}))
    await gateway.clock.sleep_until_ms(start + 2 * HOUR + MINUTE)
    entries = gateway.store.runs[job.id]
    assert [(e.status, e.error) for e in entries] == [("error", "model exploded"), ("ok", None)]
    assert [text for _, text in gateway.host.system_events] == ["Cron (error): model exploded", "Cron: fine"]


class FlakyStore(MemoryCronStore):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    async def save(self, jobs, kept):
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        await super().save(jobs, kept)


async def test_a_store_write_failure_does_not_stop_the_scheduler(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start, store=FlakyStore())
    await (await gateway.start()).add(every(10))
    gateway.store.failures = 1
    await gateway.clock.sleep_until_ms(start + 35 * MINUTE)
    assert times(gateway.host, start) == [10, 20, 30]


class BrokenStore(MemoryCronStore):
    async def load(self):
        raise CronStoreError("jobs.json is not valid JSON")


async def test_an_unreadable_store_refuses_changes_until_reloaded(autojump_clock, process):
    gateway = process(ms("2025-06-01T12:00:00"), store=BrokenStore())
    service = await gateway.start()
    with pytest.raises(ProtocolError, match="cron store is unreadable"):
        await service.add(every(10))
    service.reload(MemoryCronStore(path="fixed"))
    await trio.sleep(1)
    assert (await service.add(every(10))).id in service.jobs and service.store.path == "fixed"


async def test_a_wall_clock_step_is_noticed_within_the_recheck_interval(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start, recheck=60.0)
    await (await gateway.start()).add(every(60))
    await trio.sleep(10 * 60)
    gateway.clock.step_ms += 55 * MINUTE  # the host slept: wall time moved, the monotonic clock did not
    stepped_at = trio.current_time()
    await trio.sleep(2 * 60)
    ((at, _),) = gateway.host.system_events
    assert 65 * MINUTE <= at - start <= 66 * MINUTE  # due already; found within one recheck (60 s)
    assert trio.current_time() - stepped_at == 120


async def test_saves_are_coalesced_when_many_jobs_are_due_together(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    service = await gateway.start()
    for _ in range(1000):
        await service.add(every(60))
    before = gateway.store.saves
    await gateway.clock.sleep_until_ms(start + HOUR + MINUTE)
    assert len(gateway.host.system_events) == 1000
    assert gateway.store.saves - before < 20, gateway.store.saves - before


async def test_isolated_job_posts_its_summary_to_main_and_records_delivery(autojump_clock, process):
    start = ms("2025-06-01T12:00:00")
    gateway = process(start)
    service = await gateway.start()
    job = await service.add(add_params(name="digest", schedule={"everyMs": HOUR}, wakeMode="now",
                                       payload={"message": "summarise", "to": "42", "bestEffortDeliver": True}))
    await service.run(job.id, force=True)
    (turn_at, request), = gateway.host.turns
    assert request.message == f"[cron:{job.id} digest] summarise"
    assert gateway.host.system_events[-1][1] == f"Cron: did: [cron:{job.id} digest] summarise"
    assert gateway.host.wakes == 1
    (entry,) = await service.runs(job.id)
    assert (entry.delivery_status, entry.delivery_error) == ("not-delivered", "no channels running")
    finished = [e for e in gateway.host.events if e.action == "finished"][0]
    assert finished.delivery_status == "not-delivered" and finished.next_run_at_ms == start + HOUR
    assert (entry.status, entry.error) == ("ok", None)


async def test_a_failed_delivery_fails_the_run_unless_best_effort(autojump_clock, process):
    gateway = process(ms("2025-06-01T12:00:00"))
    service = await gateway.start()
    job = await service.add(add_params(name="digest", schedule={"everyMs": HOUR},
                                       payload={"message": "summarise", "to": "42"}))
    await service.run(job.id, force=True)
    (entry,) = await service.runs(job.id)
    assert (entry.status, entry.error) == ("error", "delivery failed: no channels running")
    assert (entry.summary, entry.delivery_status) == (f"did: [cron:{job.id} digest] summarise", "not-delivered")
    assert gateway.host.system_events[-1][1].startswith("Cron (error): did: ")

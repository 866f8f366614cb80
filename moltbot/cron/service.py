"""The cron service: one task that sleeps on the trio clock until the earliest job is due, then runs it.

Theory of operation. ``serve()`` loads the store (``jobs.recover`` makes each job consistent), reports
ready, and loops: take the due jobs off a heap of (due ms, generation, job id), start a run for each in
the service's nursery, then sleep until the next due time, until a change wakes it, or for at most
``recheck`` seconds (so a wall-clock step, a suspend or an NTP correction, is noticed). Wall-clock time
(``now_ms``, epoch ms) decides what is due; the sleep is on the trio clock, so ``MockClock`` drives it.

A run is: claim (running, next occurrence) and save, *then* execute; finish (outcome, next run) and
save, then append to the run log and emit ``finished``. The claim is on disk before the run can have
any effect, which is what makes a restart never run a job twice; a run refused before it started gives
its occurrence back (``unclaim``), which is what makes a restart never lose one. The saves that must
happen (claim, finish, unclaim) are shielded and bounded, so a cancelled Runtime still records them
before the next one loads the store. Runs start concurrently; agent turns queue on the ``cron`` lane.

Saves are coalesced: a save requested while a write is in flight waits for one more write, which
includes every change made meanwhile (10,000 jobs due together cost a few writes, not 20,000).
"""

from __future__ import annotations

import heapq
import logging
import uuid
from collections.abc import Callable

import attrs
import trio

from .._util import wall_ms
from ..protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    CronAddParams,
    CronEvent,
    CronJob,
    CronJobPatch,
    CronRunLogEntry,
    CronRunResult,
    CronStatusResult,
    ProtocolError,
)
from .host import CronHost, TurnRefused, TurnRequest, execute_job
from .jobs import (
    JobError,
    RunOutcome,
    apply_patch,
    claim,
    create_job,
    finish,
    post_to_main_text,
    recover,
    run_entry,
    unclaim,
)
from .store import CronStore, CronStoreError

__all__ = ["CronService", "CronStatistics", "wall_ms"]

log = logging.getLogger("moltbot.cron")

RECHECK_SECONDS = 60.0
SAVE_GRACE_SECONDS = 10.0  # a shielded save gets this long before we give up on it
ALL_RUNS = 1 << 62  # "every entry" for ``read_runs``
REFUSED_RETRY_MS = 5_000  # a run refused (gateway restarting) is not retried sooner than this


@attrs.frozen
class CronStatistics:
    jobs: int
    enabled: int
    running: int
    runs: int
    errors: int
    skipped: int
    interrupted: int
    saves: int
    store_errors: int
    next_wake_at_ms: int | None


class CronService:
    """Jobs in memory (authoritative), mirrored to ``store``. Run it with ``nursery.start(service.serve)``."""

    def __init__(self, store: CronStore, host: CronHost, *, enabled: Callable[[], bool] = lambda: True,
                 now_ms: Callable[[], int] = wall_ms, recheck: float = RECHECK_SECONDS) -> None:
        self.store = store
        self._host = host
        self._enabled = enabled
        self._now_ms = now_ms
        self._recheck = recheck
        self.jobs: dict[str, CronJob] = {}
        self.load_error: str | None = None
        self._kept: list = []
        self._heap: list[tuple[int, int, str]] = []
        self._generation: dict[str, int] = {}
        self._holds: dict[str, int] = {}  # job id → no run before (ms), after a refused run
        self._running: dict[str, trio.Event] = {}
        self._changed = trio.Event()
        self._reload_requested = False
        self._pending_store: CronStore | None = None
        self._save_lock = trio.Lock()
        self._changes = self._saved = 0
        self._nursery: trio.Nursery | None = None
        self._counts = {"runs": 0, "errors": 0, "skipped": 0, "interrupted": 0, "saves": 0, "store_errors": 0}

    # --- the scheduler ------------------------------------------------------------------------

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Load the store, report ready (``started(self)``), then run due jobs until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._load()
            task_status.started(self)
            while True:
                self._changed = trio.Event()
                if self._reload_requested:
                    await self._apply_reload()
                    continue
                now = self._now_ms()
                wake = None
                if self._enabled() and self.load_error is None:
                    for job_id in self._take_due(now):
                        self._start(job_id, scheduled=True)
                    wake = self._next_wake()
                delay = self._recheck if wake is None else min(self._recheck, max(0.0, (wake - now) / 1000))
                with trio.move_on_after(delay):
                    await self._changed.wait()

    def reload(self, store: CronStore | None = None) -> None:
        """The ``cron`` config changed (hot reload): re-read settings; with another store, switch to it
        once the runs in flight have finished."""
        self._reload_requested = True
        self._pending_store = store or self._pending_store
        self._changed.set()

    async def _apply_reload(self) -> None:
        self._reload_requested = False
        store, self._pending_store = self._pending_store, None
        if (store is not None and store.path != self.store.path) or self.load_error is not None:
            for done in list(self._running.values()):
                await done.wait()
            self.store = store or self.store
            await self._load()

    async def _load(self) -> None:
        self.jobs, self._heap, self._generation, self._holds, self._kept = {}, [], {}, {}, []
        try:
            loaded = await self.store.load()
        except CronStoreError as exc:
            self.load_error = str(exc)
            log.error("cron: %s; no jobs will run and changes are refused until it is fixed", exc)
            return
        self.load_error = None
        self._kept = loaded.kept
        for problem in loaded.problems:
            log.warning("cron: %s", problem)
        now = self._now_ms()
        entries: list[CronRunLogEntry] = []
        changed = False
        for job in loaded.jobs:
            fixed, recorded, warnings = recover(job, now_ms=now)
            for warning in warnings:
                log.warning("cron: %s", warning)
            entries.extend(recorded)
            changed |= fixed != job
            self._put(fixed)
        if changed:
            await self._save()
        for entry in entries:
            self._counts["interrupted" if entry.status == "error" else "skipped"] += 1
            await self.store.append_run(entry)
            self._host.emit(_event(entry))
        wake = self._next_wake()
        log.info("cron: %d job(s) loaded from %s%s", len(self.jobs), self.store.path,
                 f", next wake {wake}" if wake is not None else "")

    def _put(self, job: CronJob, *, not_before: int | None = None) -> None:
        """Store ``job`` and (re)schedule it, not before ``not_before`` (a hold that lasts until the job's
        next run starts); older heap entries for it become stale."""
        self.jobs[job.id] = job
        if not_before is not None:
            self._holds[job.id] = not_before
        generation = self._generation[job.id] = self._generation.get(job.id, 0) + 1
        if job.enabled and job.state.next_run_at_ms is not None:
            due = max(job.state.next_run_at_ms, self._holds.get(job.id, 0))
            heapq.heappush(self._heap, (due, generation, job.id))
        if len(self._heap) > 2 * len(self.jobs) + 64:
            self._heap = [entry for entry in self._heap if self._generation.get(entry[2]) == entry[1]]
            heapq.heapify(self._heap)
        self._changed.set()

    def _drop(self, job_id: str) -> CronJob | None:
        self._generation.pop(job_id, None)
        self._holds.pop(job_id, None)
        self._changed.set()
        return self.jobs.pop(job_id, None)

    def _live(self, entry: tuple[int, int, str]) -> bool:
        _, generation, job_id = entry
        return self._generation.get(job_id) == generation and job_id not in self._running

    def _take_due(self, now: int) -> list[str]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if self._live(entry):
                due.append(entry[2])
        return due

    def _next_wake(self) -> int | None:
        """The earliest due time of a job not running (stale heap entries are dropped on the way)."""
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    # --- a run --------------------------------------------------------------------------------

    def _start(self, job_id: str, *, scheduled: bool) -> tuple[trio.Event, str]:
        """Start a run of ``job_id``; return the event set when it has finished, and the run's id (the
        ``runId`` of its run-log entry)."""
        assert self._nursery is not None
        done = self._running[job_id] = trio.Event()
        run_id = f"{'scheduled' if scheduled else 'manual'}:{job_id}:{uuid.uuid4().hex[:12]}"
        self._nursery.start_soon(self._run, job_id, scheduled, done, run_id, name=f"cron job {job_id}")
        return done, run_id

    async def _run(self, job_id: str, scheduled: bool, done: trio.Event, run_id: str) -> None:
        try:
            await self._run_once(job_id, scheduled, run_id)
        finally:
            del self._running[job_id]
            if job_id in self.jobs:  # its heap entry may have been dropped while it ran
                self._put(self.jobs[job_id])
            done.set()

    async def _run_once(self, job_id: str, scheduled: bool, run_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        started = self._now_ms()
        previous_next = job.state.next_run_at_ms
        self._holds.pop(job_id, None)
        job = claim(job, scheduled_ms=previous_next if scheduled else None, now_ms=started)
        self._put(job)
        with trio.CancelScope(shield=True), trio.move_on_after(SAVE_GRACE_SECONDS):
            await self._save_or_log(job_id)  # the claim: from here on a crash records the run as interrupted
        self._host.emit(CronEvent(job_id=job_id, action="started", run_at_ms=started))
        requests: list[TurnRequest] = []
        try:
            outcome = await execute_job(job, self._host, requests)
        except TurnRefused as exc:  # typically the Runtime draining for a restart: shield the give-back
            log.info("cron: job %s not started (%s); it stays due", job_id, exc)
            with trio.CancelScope(shield=True), trio.move_on_after(SAVE_GRACE_SECONDS):
                await self._give_back(job_id, previous_next, retry=True)
            return
        except trio.Cancelled:
            with trio.CancelScope(shield=True), trio.move_on_after(SAVE_GRACE_SECONDS):
                if requests and not requests[0].started:
                    await self._give_back(job_id, previous_next, retry=False)
                else:
                    outcome = RunOutcome(status="error", error="interrupted: the gateway stopped during this run")
                    await self._finish(job, outcome, started, run_id)
            raise
        with trio.CancelScope(shield=True), trio.move_on_after(SAVE_GRACE_SECONDS):
            await self._finish(job, outcome, started, run_id)

    async def _give_back(self, job_id: str, previous_next: int | None, *, retry: bool) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            self._put(unclaim(job, previous_next_ms=previous_next),
                      not_before=self._now_ms() + REFUSED_RETRY_MS if retry else None)
            await self._save_or_log(job_id)

    async def _save_or_log(self, job_id: str) -> None:
        """Save for a run; a store that cannot be written must not stop the job from running."""
        try:
            await self._save()
        except (OSError, CronStoreError) as exc:
            self._counts["store_errors"] += 1
            log.error("cron: job %s: cannot save %s (%s); running on from memory", job_id, self.store.path, exc)

    async def _finish(self, job: CronJob, outcome: RunOutcome, started: int, run_id: str) -> None:
        ended = self._now_ms()
        current = self.jobs.get(job.id)  # it may have been changed or removed while it ran
        removed, next_run = False, None
        if current is not None:
            after = finish(current, outcome, started_ms=started, ended_ms=ended)
            if after is None:
                removed = self._drop(job.id) is not None
            else:
                self._put(after)
                next_run = after.state.next_run_at_ms
            await self._save_or_log(job.id)
        self._counts["runs"] += 1
        if outcome.status != "ok":
            self._counts["errors" if outcome.status == "error" else "skipped"] += 1
        entry = run_entry(job.id, outcome, ts=ended, run_at_ms=started, duration_ms=max(0, ended - started),
                          next_run_at_ms=next_run, run_id=run_id)
        try:
            await self.store.append_run(entry)
        except OSError as exc:
            self._counts["store_errors"] += 1
            log.error("cron: job %s: cannot append to its run log (%s)", job.id, exc)
        self._host.emit(_event(entry))
        if removed:
            self._host.emit(CronEvent(job_id=job.id, action="removed"))
        if job.session_target == "isolated":
            self._host.system_event(post_to_main_text(job, outcome), job.agent_id)
            if job.wake_mode == "now":
                self._host.wake()

    async def _save(self) -> None:
        """Write the store, coalescing: returns once a write that includes every change so far is done."""
        self._changes += 1
        wanted = self._changes
        async with self._save_lock:
            if self._saved >= wanted:
                return
            version = self._changes
            await self.store.save(list(self.jobs.values()), list(self._kept))
            self._saved = version
            self._counts["saves"] += 1

    # --- operations (the cron.* methods) ------------------------------------------------------

    def list_jobs(self, *, include_disabled: bool = False) -> list[CronJob]:
        jobs = [job for job in self.jobs.values() if include_disabled or job.enabled]
        return sorted(jobs, key=lambda job: job.state.next_run_at_ms or 0)

    def status(self) -> CronStatusResult:
        enabled = self._enabled()
        upcoming = [job.state.next_run_at_ms for job in self.jobs.values()
                    if job.enabled and job.state.next_run_at_ms is not None]
        return CronStatusResult(enabled=enabled, store_path=self.store.path, jobs=len(self.jobs),
                                next_wake_at_ms=min(upcoming) if enabled and upcoming else None, storage="json",
                                triggers_enabled=False)

    async def add(self, params: CronAddParams) -> CronJob:
        self._check_writable()
        try:
            job = create_job(params, job_id=str(uuid.uuid4()), now_ms=self._now_ms())
        except JobError as exc:
            raise ProtocolError(INVALID_REQUEST, str(exc)) from None
        self._put(job)
        try:
            await self._save()
        except BaseException:
            self._drop(job.id)
            raise
        self._host.emit(CronEvent(job_id=job.id, action="added", next_run_at_ms=job.state.next_run_at_ms))
        return job

    async def update(self, job_id: str, patch: CronJobPatch) -> CronJob:
        self._check_writable()
        before = self._job(job_id)
        try:
            job = apply_patch(before, patch, now_ms=self._now_ms())
        except JobError as exc:
            raise ProtocolError(INVALID_REQUEST, str(exc)) from None
        self._put(job)
        try:
            await self._save()
        except BaseException:
            self._put(before)
            raise
        self._host.emit(CronEvent(job_id=job_id, action="updated", next_run_at_ms=job.state.next_run_at_ms))
        return job

    async def remove(self, job_id: str) -> bool:
        self._check_writable()
        job = self._drop(job_id)
        if job is None:
            return False
        try:
            await self._save()
        except BaseException:
            self._put(job)
            raise
        self._host.emit(CronEvent(job_id=job_id, action="removed"))
        return True

    async def run(self, job_id: str, *, force: bool = False) -> CronRunResult:
        """Run a job now if it is due (or regardless, with ``force``) and wait until it has finished."""
        job = self._job(job_id)
        if job_id in self._running:
            return CronRunResult(ok=True, ran=False, enqueued=False, reason="already-running")
        due = job.enabled and job.state.next_run_at_ms is not None and self._now_ms() >= job.state.next_run_at_ms
        if not (force or due):
            return CronRunResult(ok=True, ran=False, enqueued=False, reason="not-due")
        done, run_id = self._start(job_id, scheduled=not force)
        await done.wait()
        return CronRunResult(ok=True, ran=True, enqueued=True, run_id=run_id)

    async def runs(self, job_id: str, limit: int = ALL_RUNS) -> list[CronRunLogEntry]:
        """The newest ``limit`` run-log entries of ``job_id``, oldest first (default: all; a log is pruned
        to its last 2,000 lines past 2 MB)."""
        return await self.store.read_runs(job_id, limit)

    def has_job(self, job_id: str) -> bool:
        return job_id in self.jobs

    def statistics(self) -> CronStatistics:
        return CronStatistics(jobs=len(self.jobs), enabled=sum(job.enabled for job in self.jobs.values()),
                              running=len(self._running), next_wake_at_ms=self._next_wake(), **self._counts)

    def _job(self, job_id: str) -> CronJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ProtocolError(UNAVAILABLE, f"unknown cron job id: {job_id}")
        return job

    def _check_writable(self) -> None:
        if self.load_error is not None:
            # Why (its path, the OS's words) is in the log; the client gets what to do.
            raise ProtocolError(UNAVAILABLE, "cron store is unreadable (see the gateway log); fix or move the "
                                             "file, then restart the gateway")


def _event(entry: CronRunLogEntry) -> CronEvent:
    return CronEvent(job_id=entry.job_id, action="finished", run_at_ms=entry.run_at_ms,
                     duration_ms=entry.duration_ms, status=entry.status, error=entry.error, summary=entry.summary,
                     next_run_at_ms=entry.next_run_at_ms, delivery_status=entry.delivery_status,
                     delivery_error=entry.delivery_error)


"""Jobs as values: made from ``cron.add`` params, patched, and moved through a run. Pure: time is passed in.

A job is the frozen wire type ``CronJob``; every change returns a new one, so a snapshot of the job table
(to save it in a worker thread) is a list copy.

The run protocol is what keeps a job from running twice across a restart (a failure the
original's users report: jobs that ran twice after a restart, or stopped firing):
- ``claim`` marks the job running and moves ``nextRunAtMs`` past the occurrence being run, coalescing
  any occurrences missed meanwhile into this run; the service saves that *before* the run starts;
- ``finish`` records the outcome; ``unclaim`` gives the occurrence back when the run never started
  (the gateway was restarting), so the next process runs it instead of losing it;
- ``recover`` (at load) turns a job still marked running into an "interrupted" error — it may have
  had effects, so it is not run again — corrects a ``nextRunAtMs`` later than its schedule allows (the
  "jumps days ahead" failure), and skips runs missed while the gateway was down for jobs with
  ``catchUp: false`` (logged, never silent); otherwise a missed run is caught up once, at start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from ..protocol import (
    UNSET,
    CronAddParams,
    CronAgentTurn,
    CronAgentTurnPatch,
    CronJob,
    CronJobPatch,
    CronJobState,
    CronPayload,
    CronPayloadPatch,
    CronRunLogEntry,
    CronScheduleAt,
    CronSystemEvent,
    DeliveryStatus,
    RunStatus,
)
from .schedule import ScheduleError, check_schedule, next_run_ms

MISSED_GRACE_MS = 60_000  # overdue by less than this at start is "late", not "missed"
SUMMARY_MAX_CHARS = 2000


class JobError(Exception):
    """A job that cannot be created or changed as asked; the message is for the client."""


@attrs.frozen
class RunOutcome:
    status: RunStatus
    error: str | None = None
    summary: str | None = None
    output: str | None = None  # the agent's full final text (isolated jobs)
    delivery_status: DeliveryStatus | None = None
    delivery_error: str | None = None


def with_state(job: CronJob, **changes: Any) -> CronJob:
    return attrs.evolve(job, state=attrs.evolve(job.state, **changes))


@attrs.frozen
class DeliveryPlan:
    """Whether and where an isolated job's output goes: its ``delivery``, else its payload's January fields."""

    wanted: bool
    channel: str | None = None
    to: str | None = None
    account_id: str | None = None
    best_effort: bool = False


def delivery_plan(job: CronJob) -> DeliveryPlan:
    delivery, payload = job.delivery, job.payload
    if delivery is not None:
        return DeliveryPlan(wanted=delivery.mode == "announce", channel=delivery.channel, to=delivery.to,
                            account_id=delivery.account_id, best_effort=bool(delivery.best_effort))
    if not isinstance(payload, CronAgentTurn):
        return DeliveryPlan(wanted=False)
    wanted = payload.deliver if payload.deliver is not None else bool((payload.to or "").strip())
    return DeliveryPlan(wanted=wanted, channel=payload.channel, to=payload.to,
                        best_effort=bool(payload.best_effort_deliver))


def check_job(job: CronJob) -> None:
    """Raise ``JobError`` unless the session target and payload agree and the schedule can run."""
    if job.session_target == "main" and not isinstance(job.payload, CronSystemEvent):
        raise JobError('main cron jobs require payload.kind="systemEvent"')
    if job.session_target == "isolated" and not isinstance(job.payload, CronAgentTurn):
        raise JobError('isolated cron jobs require payload.kind="agentTurn"')
    try:
        check_schedule(job.schedule)
    except ScheduleError as exc:
        raise JobError(str(exc)) from None


def next_after(job: CronJob, after_ms: int) -> int | None:
    """The job's next occurrence strictly after ``after_ms`` (an ``every`` grid anchors at creation)."""
    return next_run_ms(job.schedule, after_ms, anchor_ms=job.created_at_ms)


def first_run(job: CronJob, now_ms: int) -> int | None:
    """When an enabled job runs next, computed afresh: a one-shot that never ran is due at its time
    (at once, if that has passed), a recurring job at its next occurrence after now."""
    if not job.enabled:
        return None
    if isinstance(job.schedule, CronScheduleAt):
        return job.schedule.at_ms if job.state.last_run_at_ms is None else None
    return next_after(job, now_ms)


def create_job(params: CronAddParams, *, job_id: str, now_ms: int) -> CronJob:
    job = CronJob(
        id=job_id, name=params.name.strip() or params.name, enabled=params.enabled is not False,
        created_at_ms=now_ms, updated_at_ms=now_ms, schedule=params.schedule,
        session_target=params.session_target, wake_mode=params.wake_mode, payload=params.payload,
        state=CronJobState(), agent_id=params.agent_id or None, description=_text(params.description),
        delete_after_run=params.delete_after_run, isolation=params.isolation, catch_up=params.catch_up,
        delivery=params.delivery,
    )
    check_job(job)
    return with_state(job, next_run_at_ms=first_run(job, now_ms))


def apply_patch(job: CronJob, patch: CronJobPatch, *, now_ms: int) -> CronJob:
    changes: dict[str, Any] = {
        name: value for name in ("name", "enabled", "delete_after_run", "schedule", "session_target",
                                 "wake_mode", "isolation", "catch_up", "delivery")
        if (value := getattr(patch, name)) is not None
    }
    if patch.description is not None:
        changes["description"] = _text(patch.description)
    if patch.agent_id is not UNSET:
        changes["agent_id"] = patch.agent_id
    if patch.payload is not None:
        changes["payload"] = merge_payload(job.payload, patch.payload)
    updated = attrs.evolve(job, updated_at_ms=now_ms, **changes)
    if patch.state is not None:
        given = {f.name: v for f in attrs.fields(CronJobState) if (v := getattr(patch.state, f.name)) is not None}
        updated = with_state(updated, **given)
    check_job(updated)
    if not updated.enabled:
        return with_state(updated, next_run_at_ms=None)
    if patch.state is not None and patch.state.next_run_at_ms is not None:
        return updated
    if patch.schedule is not None or not job.enabled or updated.state.next_run_at_ms is None:
        return with_state(updated, next_run_at_ms=first_run(updated, now_ms))
    return updated


def merge_payload(existing: CronPayload, patch: CronPayloadPatch) -> CronPayload:
    """A patch of the same kind changes the fields it sets; one of the other kind replaces the payload."""
    fields = {f.name: v for f in attrs.fields(type(patch)) if (v := getattr(patch, f.name)) is not None}
    if isinstance(patch, CronAgentTurnPatch):
        if isinstance(existing, CronAgentTurn):
            return attrs.evolve(existing, **fields)
        if "message" not in fields:
            raise JobError('cron.update payload.kind="agentTurn" requires message')
        return CronAgentTurn(**fields)
    if "text" in fields:
        return CronSystemEvent(kind="systemEvent", text=fields["text"])
    if isinstance(existing, CronSystemEvent):
        return existing
    raise JobError('cron.update payload.kind="systemEvent" requires text')


# --- a run --------------------------------------------------------------------------------------


def claim(job: CronJob, *, scheduled_ms: int | None, now_ms: int) -> CronJob:
    """The job as saved before a run starts: running, its next run past this occurrence.

    ``scheduled_ms`` is the occurrence being run (``None`` for a forced run, which leaves the schedule
    alone unless it is already due).
    """
    if isinstance(job.schedule, CronScheduleAt):
        upcoming = None
    elif scheduled_ms is None:
        upcoming = job.state.next_run_at_ms
        if upcoming is None or upcoming <= now_ms:
            upcoming = next_after(job, now_ms) if job.enabled else None
    else:
        upcoming = next_after(job, max(now_ms, scheduled_ms))
    return with_state(job, running_at_ms=now_ms, next_run_at_ms=upcoming)


def unclaim(job: CronJob, *, previous_next_ms: int | None) -> CronJob:
    """The job as it was before ``claim``: its run never started, so the occurrence is still owed."""
    return with_state(job, running_at_ms=None, next_run_at_ms=previous_next_ms if job.enabled else None)


def finish(job: CronJob, outcome: RunOutcome, *, started_ms: int, ended_ms: int) -> CronJob | None:
    """The job after a run (``None``: a one-shot that succeeded with ``deleteAfterRun``, to be removed)."""
    done = with_state(job, running_at_ms=None, last_run_at_ms=started_ms, last_status=outcome.status,
                      last_error=outcome.error if outcome.status != "ok" else None,
                      last_duration_ms=max(0, ended_ms - started_ms))
    if isinstance(job.schedule, CronScheduleAt):
        if outcome.status == "ok" and job.delete_after_run:
            return None
        if outcome.status == "ok":
            return attrs.evolve(with_state(done, next_run_at_ms=None), enabled=False)
        return with_state(done, next_run_at_ms=None)
    return done if job.enabled else with_state(done, next_run_at_ms=None)


def run_entry(job_id: str, outcome: RunOutcome, *, ts: int, run_at_ms: int, duration_ms: int | None,
              next_run_at_ms: int | None, run_id: str | None = None) -> CronRunLogEntry:
    return CronRunLogEntry(ts=ts, job_id=job_id, action="finished", status=outcome.status, error=outcome.error,
                           summary=outcome.summary, run_at_ms=run_at_ms, duration_ms=duration_ms,
                           next_run_at_ms=next_run_at_ms, delivery_status=outcome.delivery_status,
                           delivery_error=outcome.delivery_error, run_id=run_id)


def recover(job: CronJob, *, now_ms: int) -> tuple[CronJob, list[CronRunLogEntry], list[str]]:
    """A job as loaded at start, made consistent: (job, run-log entries to record, warnings to log)."""
    entries: list[CronRunLogEntry] = []
    warnings: list[str] = []
    state = job.state
    if state.running_at_ms is not None:
        error = "interrupted: the gateway stopped during this run (it is not run again)"
        job = with_state(job, running_at_ms=None, last_run_at_ms=state.running_at_ms, last_status="error",
                         last_error=error, last_duration_ms=None)
        if isinstance(job.schedule, CronScheduleAt):
            job = with_state(job, next_run_at_ms=None)
        entries.append(run_entry(job.id, RunOutcome(status="error", error=error), ts=now_ms,
                                 run_at_ms=state.running_at_ms, duration_ms=None,
                                 next_run_at_ms=job.state.next_run_at_ms))
        warnings.append(f"cron job {job.id} ({job.name}) was interrupted by a stop at {_iso(state.running_at_ms)}")
    if not job.enabled:
        return with_state(job, next_run_at_ms=None), entries, warnings
    upcoming = job.state.next_run_at_ms
    if upcoming is None:
        upcoming = first_run(job, now_ms)
    elif not isinstance(job.schedule, CronScheduleAt):
        expected = next_after(job, now_ms)
        if expected is not None and upcoming > expected:
            warnings.append(f"cron job {job.id} ({job.name}): nextRunAtMs {_iso(upcoming)} was later than its "
                            f"schedule allows; corrected to {_iso(expected)}")
            upcoming = expected
    if upcoming is not None and upcoming <= now_ms - MISSED_GRACE_MS and job.catch_up is False:
        error = f"missed: the gateway was not running at {_iso(upcoming)} (catchUp is off)"
        outcome = RunOutcome(status="skipped", error=error)
        missed, upcoming = upcoming, (None if isinstance(job.schedule, CronScheduleAt) else next_after(job, now_ms))
        job = with_state(job, last_status="skipped", last_error=error)
        entries.append(run_entry(job.id, outcome, ts=now_ms, run_at_ms=missed, duration_ms=None,
                                 next_run_at_ms=upcoming))
    return with_state(job, next_run_at_ms=upcoming), entries, warnings


def pick_summary(text: str | None) -> str | None:
    clean = (text or "").strip()
    if not clean:
        return None
    return clean if len(clean) <= SUMMARY_MAX_CHARS else clean[:SUMMARY_MAX_CHARS] + "…"


def post_to_main_text(job: CronJob, outcome: RunOutcome) -> str:
    """The line an isolated job posts to the main session: ``"<prefix>: <summary>"`` or ``"<prefix> (error): …"``."""
    isolation = job.isolation
    prefix = (isolation.post_to_main_prefix if isolation else None) or "Cron"
    prefix = prefix.strip() or "Cron"
    body = (outcome.summary or outcome.error or outcome.status).strip()
    if isolation is not None and isolation.post_to_main_mode == "full" and (outcome.output or "").strip():
        limit = isolation.post_to_main_max_chars if isolation.post_to_main_max_chars is not None else 8000
        full = (outcome.output or "").strip()
        body = full if len(full) <= limit else full[:limit] + "…"
    return f"{prefix if outcome.status == 'ok' else f'{prefix} ({outcome.status})'}: {body}"


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

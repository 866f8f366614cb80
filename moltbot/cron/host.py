"""What a job's run does in the gateway around it (``CronHost``), and running one job against it.

A main-session job queues its text as a system event and, with ``wakeMode: "now"``, asks for a heartbeat;
an isolated job runs an agent turn (``[cron:<id> <name>] <message>``) and may have its output delivered
(its ``delivery``, else January's payload ``deliver: true`` or a ``to`` without ``deliver: false``); a
delivery that fails fails the run unless it is best effort. A host failure is the run's error, never the scheduler's.
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs

from ..protocol import CronAgentTurn, CronEvent, CronJob, CronSystemEvent, DeliveryStatus
from .jobs import RunOutcome, delivery_plan, pick_summary

__all__ = ["CronHost", "TurnRefused", "TurnRequest", "TurnResult", "execute_job"]

log = logging.getLogger("moltbot.cron")


class TurnRefused(Exception):
    """The agent turn could not start (the gateway is restarting); its occurrence is given back."""


@attrs.define
class TurnRequest:
    """An isolated job's agent turn. The host sets ``started`` once the run has begun (it may have had
    effects from then on, so an interrupted run is recorded, not repeated)."""

    job: CronJob
    message: str
    started: bool = False


@attrs.frozen
class TurnResult:
    ok: bool
    text: str = ""
    error: str | None = None


class CronHost(Protocol):
    """What a job's run does in the gateway around it."""

    def system_event(self, text: str, agent_id: str | None) -> None: ...

    def wake(self) -> None: ...

    async def agent_turn(self, request: TurnRequest) -> TurnResult: ...

    async def deliver(self, job: CronJob, text: str) -> tuple[DeliveryStatus, str | None]: ...

    def emit(self, event: CronEvent) -> None: ...


async def execute_job(job: CronJob, host: CronHost, requests: list[TurnRequest]) -> RunOutcome:
    """Run ``job`` once through ``host``; an isolated job's turn request is appended to ``requests`` (the
    caller reads ``started`` from it if the run is cancelled). Raises ``TurnRefused``."""
    payload = job.payload
    if job.session_target == "main":
        text = payload.text.strip() if isinstance(payload, CronSystemEvent) else ""
        if not text:
            return RunOutcome(status="skipped", error='main job requires payload.kind="systemEvent"')
        host.system_event(text, job.agent_id)
        if job.wake_mode == "now":
            host.wake()
        # Nothing is delivered for a main-session job; saying so lets OpenClaw's CLI call the run succeeded.
        return RunOutcome(status="ok", summary=text, delivery_status="not-requested")
    if not isinstance(payload, CronAgentTurn):
        return RunOutcome(status="skipped", error='isolated job requires payload.kind="agentTurn"')
    requests.append(TurnRequest(job=job, message=f"[cron:{job.id} {job.name}] {payload.message}"))
    try:
        result = await host.agent_turn(requests[0])
    except TurnRefused:
        raise
    except Exception as exc:  # a host failure is this run's error, not the scheduler's
        log.exception("cron: job %s: agent turn failed", job.id)
        return RunOutcome(status="error", error=str(exc) or type(exc).__name__)
    summary = pick_summary(result.text)
    plan = delivery_plan(job)
    delivery: tuple[DeliveryStatus, str | None] = ("not-requested", None)
    failed = False
    if plan.wanted and result.ok and summary:
        delivery = await host.deliver(job, result.text)
        # A delivery asked for that failed fails the run, unless it was best effort (as in the original).
        failed = delivery[0] == "not-delivered" and not plan.best_effort
    elif plan.wanted:
        delivery = ("not-delivered", "nothing to deliver: the run produced no output")
    error = result.error if not result.ok else f"delivery failed: {delivery[1]}" if failed else None
    return RunOutcome(status="ok" if result.ok and not failed else "error", error=error,
                      summary=summary, output=result.text, delivery_status=delivery[0],
                      delivery_error=delivery[1])


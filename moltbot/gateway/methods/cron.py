"""``cron.list``, ``cron.status``, ``cron.add``, ``cron.update``, ``cron.remove``, ``cron.run``, ``cron.runs``.

An unknown job id is answered as each version has it: at protocol 4, ``INVALID_REQUEST "Automation not
found: <id>. …"`` with ``details {code: "CRON_JOB_NOT_FOUND", jobId}`` (OpenClaw, observed, for update,
remove, run and runs); at 3 and 7, January's ``UNAVAILABLE "unknown cron job id: <id>"`` for update and
run, ``{ok: true, removed: false}`` for remove and no entries for runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ...agents.sessions import normalize_agent_id
from ...cron.listing import list_page, runs_page
from ...protocol import (
    INVALID_REQUEST,
    UNSET,
    CronAddParams,
    CronJob,
    CronJobRef,
    CronListParams,
    CronListResult,
    CronRemoveResult,
    CronRunParams,
    CronRunResult,
    CronRunsParams,
    CronRunsResult,
    CronStatusResult,
    CronUpdateParams,
    EmptyParams,
    ProtocolError,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

OPENCLAW_PROTOCOL = 4


def _job_id(method: str, params: CronJobRef | CronUpdateParams | CronRunParams | CronRunsParams) -> str:
    job_id = params.id or params.job_id
    if not job_id:
        raise ProtocolError(INVALID_REQUEST, f"invalid {method} params: missing id")
    return job_id


def _agent(agent_id: str | None) -> str | None:
    return normalize_agent_id(agent_id) if agent_id else agent_id


def _check_known(runtime: Runtime, connection: Connection, job_id: str, *, known: bool = True) -> None:
    """At protocol 4, refuse an unknown job id as OpenClaw does (3 and 7 keep January's answers).
    ``known=False``: treat ``job_id`` as unknown whatever the jobs hold (another agent's job)."""
    if connection.session.protocol == OPENCLAW_PROTOCOL and not (known and runtime.cron.has_job(job_id)):
        raise ProtocolError(INVALID_REQUEST, f"Automation not found: {job_id}. List automations and retry with a "
                                             "current job id.", details={"code": "CRON_JOB_NOT_FOUND", "jobId": job_id})


async def cron_list(runtime: Runtime, connection: Connection, params: CronListParams) -> CronListResult:
    if params.agent_id:
        params = attrs.evolve(params, agent_id=_agent(params.agent_id))
    return list_page(list(runtime.cron.jobs.values()), params, default_agent=runtime.agents.default_agent_id())


async def cron_status(runtime: Runtime, connection: Connection, params: EmptyParams) -> CronStatusResult:
    return runtime.cron.status()


async def cron_add(runtime: Runtime, connection: Connection, params: CronAddParams) -> CronJob:
    if params.agent_id:
        params = attrs.evolve(params, agent_id=_agent(params.agent_id))
    return await runtime.cron.add(params)


async def cron_update(runtime: Runtime, connection: Connection, params: CronUpdateParams) -> CronJob:
    patch = params.patch
    if patch.agent_id is not UNSET and patch.agent_id:
        patch = attrs.evolve(patch, agent_id=_agent(patch.agent_id))
    job_id = _job_id("cron.update", params)
    _check_known(runtime, connection, job_id)
    return await runtime.cron.update(job_id, patch)


async def cron_remove(runtime: Runtime, connection: Connection, params: CronJobRef) -> CronRemoveResult:
    job_id = _job_id("cron.remove", params)
    _check_known(runtime, connection, job_id)
    return CronRemoveResult(ok=True, removed=await runtime.cron.remove(job_id))


async def cron_run(runtime: Runtime, connection: Connection, params: CronRunParams) -> CronRunResult:
    job_id = _job_id("cron.run", params)
    _check_known(runtime, connection, job_id)
    return await runtime.cron.run(job_id, force=params.mode == "force")


async def cron_runs(runtime: Runtime, connection: Connection, params: CronRunsParams) -> CronRunsResult:
    """One job's runs, or with ``scope: "all"`` (protocol 4's default when no id is given, as OpenClaw's)
    every current job's, merged by time; ``agentId`` keeps the jobs of that agent (a job of another agent
    is "not found" at protocol 4, as OpenClaw answers)."""
    agent_id, default_agent = _agent(params.agent_id), runtime.agents.default_agent_id()
    has_id = bool(params.id or params.job_id)
    if params.scope == "all" or (params.scope is None and not has_id and connection.session.protocol == OPENCLAW_PROTOCOL):
        jobs = [job for job in runtime.cron.jobs.values()
                if not agent_id or (job.agent_id or default_agent) == agent_id]
        entries = [entry for job in jobs for entry in await runtime.cron.runs(job.id)]
        entries.sort(key=lambda entry: entry.ts)
        return runs_page(entries, params)
    job_id = _job_id("cron.runs", params)
    job = runtime.cron.jobs.get(job_id)
    if agent_id and job is not None and (job.agent_id or default_agent) != agent_id:
        job_id = ""  # another agent's job: as an unknown one (no entries at 3 and 7)
    _check_known(runtime, connection, job_id or (params.id or params.job_id or ""), known=bool(job_id))
    return runs_page(await runtime.cron.runs(job_id) if job_id else [], params)

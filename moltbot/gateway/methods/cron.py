"""``cron.list``, ``cron.status``, ``cron.add``, ``cron.update``, ``cron.remove``, ``cron.run``, ``cron.runs``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ...agents.sessions import normalize_agent_id
from ...protocol import INVALID_REQUEST, UNSET, ProtocolError
from ...protocol._payloads.cron import (
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
)
from ...protocol._payloads.system import EmptyParams

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime


def _job_id(method: str, params: CronJobRef | CronUpdateParams | CronRunParams | CronRunsParams) -> str:
    job_id = params.id or params.job_id
    if not job_id:
        raise ProtocolError(INVALID_REQUEST, f"invalid {method} params: missing id")
    return job_id


def _agent(agent_id: str | None) -> str | None:
    return normalize_agent_id(agent_id) if agent_id else agent_id


async def cron_list(runtime: Runtime, connection: Connection, params: CronListParams) -> CronListResult:
    return CronListResult(jobs=runtime.cron.list_jobs(include_disabled=bool(params.include_disabled)))


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
    return await runtime.cron.update(_job_id("cron.update", params), patch)


async def cron_remove(runtime: Runtime, connection: Connection, params: CronJobRef) -> CronRemoveResult:
    return CronRemoveResult(ok=True, removed=await runtime.cron.remove(_job_id("cron.remove", params)))


async def cron_run(runtime: Runtime, connection: Connection, params: CronRunParams) -> CronRunResult:
    return await runtime.cron.run(_job_id("cron.run", params), force=params.mode == "force")


async def cron_runs(runtime: Runtime, connection: Connection, params: CronRunsParams) -> CronRunsResult:
    job_id = _job_id("cron.runs", params)
    return CronRunsResult(entries=await runtime.cron.runs(job_id, params.limit or 200))

"""Pages of jobs (``cron.list``) and of run-log entries (``cron.runs``): filter, sort, slice. Pure.

Both answer protocol 4's paging shape (``total``, ``offset``, ``limit``, ``hasMore``, ``nextOffset``:
``null`` on the last page). A job list also gets a ``snapshotRevision``, a digest of the filtered,
sorted jobs, which OpenClaw's CLI compares between the pages it reads.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any, TypeVar

from ..protocol import (
    CronJob,
    CronListParams,
    CronListResult,
    CronRunLogEntry,
    CronRunsParams,
    CronRunsResult,
    dumps,
    unstructure,
)

__all__ = ["DEFAULT_RUNS_LIMIT", "list_page", "runs_page"]

DEFAULT_RUNS_LIMIT = 200
EMPTY_LIST_LIMIT = 50  # the ``limit`` an empty list without one reports (OpenClaw's)
_LAST = float("inf")

T = TypeVar("T")


def _page(items: Sequence[T], offset: int, limit: int) -> tuple[list[T], dict[str, Any]]:
    total = len(items)
    start = min(offset, total)
    page = list(items[start:start + limit])
    end = start + len(page)
    return page, {"total": total, "offset": start, "limit": limit, "has_more": end < total,
                  "next_offset": end if end < total else None}


def _job_matches(job: CronJob, params: CronListParams, default_agent: str) -> bool:
    enabled = params.enabled or ("all" if params.include_disabled else "enabled")
    if (enabled == "enabled" and not job.enabled) or (enabled == "disabled" and job.enabled):
        return False
    if params.agent_id and (job.agent_id or default_agent) != params.agent_id:  # normalised by the caller
        return False
    if params.schedule_kind not in (None, "all") and job.schedule.kind != params.schedule_kind:
        return False
    if params.last_run_status not in (None, "all") and (job.state.last_status or "unknown") != params.last_run_status:
        return False
    if params.trigger == "conditional":  # no job here has a trigger script
        return False
    query = (params.query or "").strip().lower()
    text = " ".join((job.id, job.name, job.description or "", job.agent_id or "")).lower()
    return not query or query in text


def _job_key(job: CronJob, sort_by: str) -> tuple[Any, ...]:
    if sort_by == "name":
        return (job.name.casefold(), job.id)
    if sort_by == "updatedAtMs":
        return (job.updated_at_ms, job.id)
    upcoming = job.state.next_run_at_ms
    return (upcoming if upcoming is not None else _LAST, job.id)


def snapshot_revision(jobs: Sequence[CronJob]) -> str:
    digest = hashlib.sha256(dumps([unstructure(job) for job in jobs], sort_keys=True).encode()).digest()
    return "sha256:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def list_page(jobs: Sequence[CronJob], params: CronListParams, *, default_agent: str) -> CronListResult:
    """The page of ``jobs`` that ``params`` asks for (default: every enabled job, by next run, as January
    answered; OpenClaw's CLI always asks for pages of 200).

    A job without a next run sorts last in either direction, as in OpenClaw."""
    matching = [job for job in jobs if _job_matches(job, params, default_agent)]
    sort_by = params.sort_by or "nextRunAtMs"
    descending = params.sort_dir == "desc"
    matching.sort(key=lambda job: _job_key(job, sort_by), reverse=descending)
    if sort_by == "nextRunAtMs" and descending:
        matching.sort(key=lambda job: job.state.next_run_at_ms is None)  # stable: keeps the order otherwise
    page, paging = _page(matching, params.offset or 0, params.limit or len(matching) or EMPTY_LIST_LIMIT)
    return CronListResult(jobs=page, snapshot_revision=snapshot_revision(matching), **paging)


def _entry_matches(entry: CronRunLogEntry, params: CronRunsParams) -> bool:
    status = params.status
    statuses = params.statuses or ([status] if status is not None and status != "all" else None)
    if statuses and entry.status not in statuses:
        return False
    deliveries = params.delivery_statuses or ([params.delivery_status] if params.delivery_status else None)
    if deliveries and (entry.delivery_status or "not-requested") not in deliveries:
        return False
    if params.run_id and entry.run_id != params.run_id:
        return False
    query = (params.query or "").strip().lower()
    return not query or query in f"{entry.summary or ''} {entry.error or ''}".lower()


def runs_page(entries: Sequence[CronRunLogEntry], params: CronRunsParams) -> CronRunsResult:
    """The page of run-log ``entries`` (oldest first, as stored) that ``params`` asks for."""
    matching = [entry for entry in entries if _entry_matches(entry, params)]
    limit, offset = params.limit or DEFAULT_RUNS_LIMIT, params.offset or 0
    if params.sort_dir == "asc":
        page, paging = _page(matching, offset, limit)
    else:  # newest first; January's default order (no sortDir) is that page turned oldest first
        page, paging = _page(matching[::-1], offset, limit)
        if params.sort_dir is None:
            page.reverse()
    return CronRunsResult(entries=page, **paging)

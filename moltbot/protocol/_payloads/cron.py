"""Cron payloads: the ``cron.*`` methods and the ``cron`` event.

Schedules and payloads are unions tagged by ``kind``. ``cron.add`` and ``cron.update`` first normalise
the loose input forms the original accepts (``normalize_cron_add`` / ``normalize_cron_update``, run
before validation): ``{job: {...}}`` and ``{data: {...}}`` wrappers, ``schedule.at`` as an ISO time (or
``atMs`` as a string), a missing ``schedule.kind`` inferred from the fields present, payload kinds in
any letter case, the legacy ``provider`` key for ``channel``, top-level ``message``/``text`` as the
payload, and, for ``cron.add``, the defaults ``wakeMode: "next-heartbeat"`` and ``sessionTarget`` from
the payload kind. Anything still wrong after that is refused by the strict types, naming the field.

Protocol 4 (today's OpenClaw) added, and every version now accepts or returns: the job-level
``delivery`` (``announce``/``none``, in place of the payload's January delivery fields), ``cron.list``
filters and paging (``CronListParams``, ``total``/``offset``/``limit``/``hasMore``/``nextOffset``/
``snapshotRevision``), ``cron.runs`` paging and filters, a run's ``runId``, and ``cron.run``'s
``enqueued``/``runId``. The input normalisation is in ``cron_input``.

Ours beyond the reference: ``catchUp`` (runs missed while the gateway was down are caught up with one
run, the default, or skipped and logged), and the delivery outcome of a run (``deliveryStatus``,
``deliveryError``, the names the original's later versions use).
"""

from __future__ import annotations

from typing import Annotated, Literal

import attrs
from annotated_types import Ge, Le, MinLen

from .._frames import UNSET, NonEmptyStr, NonNegativeInt, PositiveInt
from .cron_input import normalize_cron_add, normalize_cron_update, parse_absolute_ms  # noqa: F401 (the add/update input)

SessionTarget = Literal["main", "isolated"]
WakeMode = Literal["next-heartbeat", "now"]
RunStatus = Literal["ok", "error", "skipped"]
DeliveryStatus = Literal["delivered", "not-delivered", "not-requested"]
DeliveryFilter = Literal["delivered", "not-delivered", "unknown", "not-requested"]
RunsLimit = Annotated[int, Ge(1), Le(5000)]
ListLimit = Annotated[int, Ge(1), Le(200)]


@attrs.frozen
class CronScheduleAt:
    """Run once at ``atMs`` (epoch milliseconds)."""

    kind: Literal["at"]
    at_ms: NonNegativeInt


@attrs.frozen
class CronScheduleEvery:
    """Run on the grid ``anchorMs + k·everyMs`` (anchor: the job's creation time when absent)."""

    kind: Literal["every"]
    every_ms: PositiveInt
    anchor_ms: NonNegativeInt | None = None


@attrs.frozen
class CronScheduleCron:
    """A cron expression (5 fields, or 6 with seconds first) in an IANA time zone (default: the host's)."""

    kind: Literal["cron"]
    expr: NonEmptyStr
    tz: str | None = None


CronSchedule = CronScheduleAt | CronScheduleEvery | CronScheduleCron


@attrs.frozen
class CronSystemEvent:
    """Queue ``text`` as a system event on the main session (``sessionTarget: "main"`` only)."""

    kind: Literal["systemEvent"]
    text: NonEmptyStr


@attrs.frozen
class CronAgentTurn:
    """Run an agent turn in the job's own session (``sessionTarget: "isolated"`` only)."""

    kind: Literal["agentTurn"]
    message: NonEmptyStr
    model: str | None = None
    thinking: str | None = None
    timeout_seconds: PositiveInt | None = None
    deliver: bool | None = None
    channel: NonEmptyStr | None = None
    to: str | None = None
    best_effort_deliver: bool | None = None


CronPayload = CronSystemEvent | CronAgentTurn


@attrs.frozen
class CronSystemEventPatch:
    kind: Literal["systemEvent"]
    text: NonEmptyStr | None = None


@attrs.frozen
class CronAgentTurnPatch:
    kind: Literal["agentTurn"]
    message: NonEmptyStr | None = None
    model: str | None = None
    thinking: str | None = None
    timeout_seconds: PositiveInt | None = None
    deliver: bool | None = None
    channel: NonEmptyStr | None = None
    to: str | None = None
    best_effort_deliver: bool | None = None


CronPayloadPatch = CronSystemEventPatch | CronAgentTurnPatch


@attrs.frozen
class CronIsolation:
    """What an isolated job posts to the main session afterwards (default ``"Cron: <summary>"``)."""

    post_to_main_prefix: str | None = None
    post_to_main_mode: Literal["summary", "full"] | None = None
    post_to_main_max_chars: NonNegativeInt | None = None


@attrs.frozen
class CronDelivery:
    """Where an isolated job's output goes (protocol 4's job-level ``delivery``).

    ``announce``: to ``channel`` (unset or ``"last"``: where the agent's main session last talked) and
    ``to``; ``none``: nowhere. When set it replaces the payload's ``deliver``/``channel``/``to``/
    ``bestEffortDeliver`` (January's place for them). Webhook delivery is not supported here.
    """

    mode: Literal["announce", "none"]
    channel: NonEmptyStr | None = None
    to: NonEmptyStr | None = None
    account_id: NonEmptyStr | None = None
    best_effort: bool | None = None


@attrs.frozen
class CronJobState:
    next_run_at_ms: NonNegativeInt | None = None
    running_at_ms: NonNegativeInt | None = None
    last_run_at_ms: NonNegativeInt | None = None
    last_status: RunStatus | None = None
    last_error: str | None = None
    last_duration_ms: NonNegativeInt | None = None


@attrs.frozen
class CronJob:
    """One job, as ``cron.*`` return it and ``jobs.json`` stores it."""

    id: NonEmptyStr
    name: NonEmptyStr
    enabled: bool
    created_at_ms: NonNegativeInt
    updated_at_ms: NonNegativeInt
    schedule: CronSchedule
    session_target: SessionTarget
    wake_mode: WakeMode
    payload: CronPayload
    state: CronJobState
    agent_id: NonEmptyStr | None = None
    description: str | None = None
    delete_after_run: bool | None = None
    isolation: CronIsolation | None = None
    catch_up: bool | None = None
    delivery: CronDelivery | None = None


@attrs.frozen
class CronListParams:
    """Protocol 4's ``cron.list`` filters and paging (all optional; without any: every enabled job by next
    run, as January answered; ``limit`` is at most 200).

    ``enabled`` overrides ``includeDisabled``; ``query`` matches id, name, description and agent id
    (case-insensitive); ``trigger: "conditional"`` matches nothing here (no trigger scripts);
    ``lastRunStatus: "unknown"`` is a job that has not run. ``compact`` and ``includeDeliveryPreviews``
    are accepted and change nothing (full rows, no previews).
    """

    include_disabled: bool | None = None
    limit: ListLimit | None = None
    offset: NonNegativeInt | None = None
    query: str | None = None
    enabled: Literal["all", "enabled", "disabled"] | None = None
    schedule_kind: Literal["all", "at", "every", "cron", "on-exit", "stream"] | None = None
    last_run_status: Literal["all", "ok", "error", "skipped", "unknown"] | None = None
    trigger: Literal["all", "conditional", "unconditional"] | None = None
    sort_by: Literal["nextRunAtMs", "updatedAtMs", "name"] | None = None
    sort_dir: Literal["asc", "desc"] | None = None
    agent_id: NonEmptyStr | None = None
    compact: bool | None = None
    include_delivery_previews: bool | None = None


@attrs.frozen
class CronListResult:
    """One page: ``nextOffset`` is ``null`` on the last; ``snapshotRevision`` names the filtered list, so a
    client paging through it sees when it changed between pages."""

    jobs: list[CronJob]
    total: NonNegativeInt
    offset: NonNegativeInt
    limit: PositiveInt
    has_more: bool
    next_offset: NonNegativeInt | None
    snapshot_revision: NonEmptyStr


@attrs.frozen
class CronStatusResult:
    """``storage: "json"`` (``jobs.json`` at ``storePath``); ``triggersEnabled`` is false: no trigger scripts."""

    enabled: bool
    store_path: str
    jobs: NonNegativeInt
    next_wake_at_ms: NonNegativeInt | None
    storage: Literal["json"]
    triggers_enabled: bool


@attrs.frozen
class CronAddParams:
    """``cron.add`` after normalisation; ``agentId: null`` means the default agent."""

    name: NonEmptyStr
    schedule: CronSchedule
    session_target: SessionTarget
    wake_mode: WakeMode
    payload: CronPayload
    agent_id: NonEmptyStr | None = UNSET
    description: str | None = None
    enabled: bool | None = None
    delete_after_run: bool | None = None
    isolation: CronIsolation | None = None
    catch_up: bool | None = None
    delivery: CronDelivery | None = None


@attrs.frozen
class CronJobPatch:
    """Fields to change; ``agentId: null`` clears the agent, a payload patch merges into a same-kind payload."""

    name: NonEmptyStr | None = None
    agent_id: NonEmptyStr | None = UNSET
    description: str | None = None
    enabled: bool | None = None
    delete_after_run: bool | None = None
    schedule: CronSchedule | None = None
    session_target: SessionTarget | None = None
    wake_mode: WakeMode | None = None
    payload: CronPayloadPatch | None = None
    isolation: CronIsolation | None = None
    state: CronJobState | None = None
    catch_up: bool | None = None
    delivery: CronDelivery | None = None


@attrs.frozen
class CronUpdateParams:
    """``{id | jobId, patch}``."""

    patch: CronJobPatch
    id: NonEmptyStr | None = None
    job_id: NonEmptyStr | None = None


@attrs.frozen
class CronJobRef:
    """``{id | jobId}``."""

    id: NonEmptyStr | None = None
    job_id: NonEmptyStr | None = None


@attrs.frozen
class CronRemoveResult:
    ok: Literal[True]
    removed: bool


@attrs.frozen
class CronRunParams:
    """``{id | jobId, mode?}``: ``due`` (default) runs only a due job, ``force`` runs it regardless."""

    id: NonEmptyStr | None = None
    job_id: NonEmptyStr | None = None
    mode: Literal["due", "force"] | None = None


@attrs.frozen
class CronRunResult:
    """``ran``/``reason`` (January) beside ``enqueued``/``runId`` (protocol 4): the call returns once the run
    has finished, so ``enqueued`` is ``ran`` and ``runId`` names the run's entry in ``cron.runs``."""

    ok: Literal[True]
    ran: bool
    enqueued: bool
    reason: Literal["not-due", "already-running"] | None = None
    run_id: NonEmptyStr | None = None


@attrs.frozen
class CronRunsParams:
    """``{id | jobId, limit?}`` (limit 1..5000, default 200) and protocol 4's ``offset``, ``runId``,
    ``status``/``statuses``, ``deliveryStatus``/``deliveryStatuses`` (an entry without one counts as
    ``not-requested``, as in OpenClaw), ``query`` (summary and error text) and ``sortDir``. Without
    ``sortDir`` the order is January's: the newest ``limit`` (``offset`` counted from the newest), oldest
    first; ``desc`` is newest first, ``asc`` oldest first with ``offset`` counted from the oldest.
    ``scope: "all"`` (protocol 4's default without an id) pages the runs of every job, ``agentId`` keeps
    the jobs of one agent (OpenClaw's Automations view sends both)."""

    agent_id: NonEmptyStr | None = None
    scope: Literal["job", "all"] | None = None
    id: NonEmptyStr | None = None
    job_id: NonEmptyStr | None = None
    limit: RunsLimit | None = None
    offset: NonNegativeInt | None = None
    run_id: NonEmptyStr | None = None
    status: Literal["all", "ok", "error", "skipped"] | None = None
    statuses: Annotated[list[RunStatus], MinLen(1)] | None = None
    delivery_status: DeliveryFilter | None = None
    delivery_statuses: Annotated[list[DeliveryFilter], MinLen(1)] | None = None
    query: str | None = None
    sort_dir: Literal["asc", "desc"] | None = None


@attrs.frozen
class CronRunLogEntry:
    """One line of ``cron/runs/<jobId>.jsonl``: a finished (or skipped, or interrupted) run."""

    ts: NonNegativeInt
    job_id: NonEmptyStr
    action: Literal["finished"]
    status: RunStatus | None = None
    error: str | None = None
    summary: str | None = None
    run_at_ms: NonNegativeInt | None = None
    duration_ms: NonNegativeInt | None = None
    next_run_at_ms: NonNegativeInt | None = None
    delivery_status: DeliveryStatus | None = None
    delivery_error: str | None = None
    run_id: NonEmptyStr | None = None


@attrs.frozen
class CronRunsResult:
    """One page of the matching entries; without ``offset``/``sortDir``, the newest ``limit``, oldest first
    (as the original's code returns them). ``nextOffset`` is ``null`` on the last page."""

    entries: list[CronRunLogEntry]
    total: NonNegativeInt
    offset: NonNegativeInt
    limit: PositiveInt
    has_more: bool
    next_offset: NonNegativeInt | None


@attrs.frozen
class CronEvent:
    """The ``cron`` event: a job was added, updated, removed, or a run started or finished."""

    job_id: NonEmptyStr
    action: Literal["added", "updated", "removed", "started", "finished"]
    run_at_ms: NonNegativeInt | None = None
    duration_ms: NonNegativeInt | None = None
    status: RunStatus | None = None
    error: str | None = None
    summary: str | None = None
    next_run_at_ms: NonNegativeInt | None = None
    delivery_status: DeliveryStatus | None = None
    delivery_error: str | None = None

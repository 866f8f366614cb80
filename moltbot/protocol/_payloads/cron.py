"""Cron payloads (reference §3 ``cron.*`` rows, §4.2 ``cron`` event, §11).

Schedules and payloads are unions tagged by ``kind``. ``cron.add`` and ``cron.update`` first normalise
the loose input forms the original accepts (``normalize_cron_add`` / ``normalize_cron_update``, run
before validation): ``{job: {...}}`` and ``{data: {...}}`` wrappers, ``schedule.at`` as an ISO time (or
``atMs`` as a string), a missing ``schedule.kind`` inferred from the fields present, payload kinds in
any letter case, the legacy ``provider`` key for ``channel``, top-level ``message``/``text`` as the
payload, and, for ``cron.add``, the defaults ``wakeMode: "next-heartbeat"`` and ``sessionTarget`` from
the payload kind. Anything still wrong after that is refused by the strict types, naming the field.

Ours beyond the reference: ``catchUp`` (runs missed while the gateway was down are caught up with one
run, the default, or skipped and logged), and the delivery outcome of a run (``deliveryStatus``,
``deliveryError``, the names the original's later versions use).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import attrs
from annotated_types import Ge, Le

from .._frames import UNSET, NonEmptyStr, NonNegativeInt, PositiveInt

SessionTarget = Literal["main", "isolated"]
WakeMode = Literal["next-heartbeat", "now"]
RunStatus = Literal["ok", "error", "skipped"]
DeliveryStatus = Literal["delivered", "not-delivered", "not-requested"]
RunsLimit = Annotated[int, Ge(1), Le(5000)]


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


@attrs.frozen
class CronListParams:
    include_disabled: bool | None = None


@attrs.frozen
class CronListResult:
    jobs: list[CronJob]


@attrs.frozen
class CronStatusResult:
    enabled: bool
    store_path: str
    jobs: NonNegativeInt
    next_wake_at_ms: NonNegativeInt | None


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
    ok: Literal[True]
    ran: bool
    reason: Literal["not-due", "already-running"] | None = None


@attrs.frozen
class CronRunsParams:
    """``{id | jobId, limit?}`` (limit 1..5000, default 200)."""

    id: NonEmptyStr | None = None
    job_id: NonEmptyStr | None = None
    limit: RunsLimit | None = None


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


@attrs.frozen
class CronRunsResult:
    """The newest ``limit`` entries, oldest first (as the original's code returns them)."""

    entries: list[CronRunLogEntry]


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


# --- input normalisation (before validation) ------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HAS_ZONE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_PAYLOAD_KINDS = {"systemevent": "systemEvent", "agentturn": "agentTurn"}


def parse_absolute_ms(text: str) -> int | None:
    """Epoch ms from digits or an ISO 8601 time (no zone: UTC; a date alone: midnight UTC), else None."""
    raw = text.strip()
    if raw.isdigit():
        return int(raw) if int(raw) > 0 else None
    if _ISO_DATE.match(raw):
        raw += "T00:00:00Z"
    elif "T" in raw and not _HAS_ZONE.search(raw):
        raw += "Z"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _coerce_schedule(schedule: dict[str, Any]) -> dict[str, Any]:
    result = dict(schedule)
    kind = result.get("kind")
    if isinstance(kind, str) and kind.strip().lower() in ("at", "every", "cron"):
        result["kind"] = kind = kind.strip().lower()
    if isinstance(result.get("cron"), str) and "expr" not in result:  # later versions' legacy key
        result["expr"] = result.pop("cron")
    if not isinstance(kind, str):
        if isinstance(result.get("atMs"), (int, str)) or isinstance(result.get("at"), str):
            result["kind"] = "at"
        elif isinstance(result.get("everyMs"), int):
            result["kind"] = "every"
        elif isinstance(result.get("expr"), str):
            result["kind"] = "cron"
    for key in ("atMs", "at"):
        if isinstance(result.get(key), str) and not isinstance(result.get("atMs"), int):
            parsed = parse_absolute_ms(result[key])
            if parsed is not None:
                result.pop("at", None)
                result["atMs"] = parsed
    if isinstance(result.get("expr"), str):
        result["expr"] = result["expr"].strip()
    return result


def _coerce_payload(payload: dict[str, Any]) -> dict[str, Any]:
    result = dict(payload)
    kind = result.get("kind")
    if isinstance(kind, str):
        result["kind"] = _PAYLOAD_KINDS.get(kind.strip().lower(), kind)
    elif isinstance(result.get("message"), str) and result["message"].strip():
        result["kind"] = "agentTurn"
    elif isinstance(result.get("text"), str) and result["text"].strip():
        result["kind"] = "systemEvent"
    provider = result.pop("provider", None)  # the original's legacy name for the delivery channel
    channel = result.get("channel")
    if not (isinstance(channel, str) and channel.strip()) and isinstance(provider, str) and provider.strip():
        channel = provider
    if isinstance(channel, str) and channel.strip():
        result["channel"] = channel.strip().lower()
    for key in ("message", "text", "model", "thinking"):
        if isinstance(result.get(key), str) and result[key].strip():
            result[key] = result[key].strip()
    return result


def _coerce_job(raw: dict[str, Any]) -> dict[str, Any]:
    job = raw.get("data") if isinstance(raw.get("data"), dict) else raw.get("job")
    result = dict(job if isinstance(job, dict) else raw)
    for key in ("agentId", "name", "description"):
        if isinstance(result.get(key), str):
            result[key] = result[key].strip()
            if not result[key] and key == "agentId":
                del result[key]
    if isinstance(result.get("enabled"), str) and result["enabled"].strip().lower() in ("true", "false"):
        result["enabled"] = result["enabled"].strip().lower() == "true"
    for key in ("sessionTarget", "wakeMode"):
        if isinstance(result.get(key), str):
            result[key] = result[key].strip().lower()
    if isinstance(result.get("schedule"), dict):
        result["schedule"] = _coerce_schedule(result["schedule"])
    if not isinstance(result.get("payload"), dict):
        message, text = result.get("message"), result.get("text")
        if isinstance(message, str) and message.strip():
            result["payload"] = {"kind": "agentTurn", "message": result.pop("message")}
        elif isinstance(text, str) and text.strip():
            result["payload"] = {"kind": "systemEvent", "text": result.pop("text")}
    if isinstance(result.get("payload"), dict):
        result["payload"] = _coerce_payload(result["payload"])
    return result


def normalize_cron_add(params: Any) -> Any:
    """The ``cron.add`` params the strict types validate, from what a client sent (never raises)."""
    if not isinstance(params, dict):
        return params
    job = _coerce_job(params)
    job.setdefault("wakeMode", "next-heartbeat")
    payload = job.get("payload")
    if "sessionTarget" not in job and isinstance(payload, dict):
        target = {"systemEvent": "main", "agentTurn": "isolated"}.get(payload.get("kind"))
        if target:
            job["sessionTarget"] = target
    return job


def normalize_cron_update(params: Any) -> Any:
    """The ``cron.update`` params with the patch normalised like ``cron.add`` input (no defaults)."""
    if not isinstance(params, dict) or not isinstance(params.get("patch"), dict):
        return params
    return {**params, "patch": _coerce_job(params["patch"])}

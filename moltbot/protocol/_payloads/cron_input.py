"""Cron input normalisation: the loose forms the original accepts, made strict-typed (run before validation).

``cron.add`` and ``cron.update`` accept ``{job: {...}}`` and ``{data: {...}}`` wrappers, ``schedule.at`` as
an ISO time (or ``atMs`` as a string), a missing ``schedule.kind`` inferred from the fields present,
payload kinds in any letter case, the legacy ``provider`` key for ``channel``, top-level
``message``/``text`` as the payload, and, for ``cron.add``, the defaults ``wakeMode: "next-heartbeat"``
and ``sessionTarget`` from the payload kind. Nothing here raises: what is still wrong afterwards is
refused by the strict types, naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

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
        target = {"systemEvent": "main", "agentTurn": "isolated"}.get(str(payload.get("kind")))
        if target:
            job["sessionTarget"] = target
    return job


def normalize_cron_update(params: Any) -> Any:
    """The ``cron.update`` params with the patch normalised like ``cron.add`` input (no defaults)."""
    if not isinstance(params, dict) or not isinstance(params.get("patch"), dict):
        return params
    return {**params, "patch": _coerce_job(params["patch"])}

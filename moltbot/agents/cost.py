"""``usage.cost``: tokens and dollars over the last ``days``, per day, per model and per session.

Theory of operation. As the original, the figures come from the transcripts, not from a counter of
their own: every assistant line with a ``usage`` (``usage.py``) is one entry, dated by its timestamp
(the gateway's local day; a compaction's summary call counts too) and priced by its own ``usage.cost.total`` or, when it has none, by the
current ``models.providers.<id>.models[].cost``; an entry with neither counts in ``missingCostEntries``.
All transcripts of a session directory are read, archived ones too (``<id>.jsonl.bak.<ts>`` of a
compaction, ``.deleted.<ts>``), so compacting or resetting a session does not lose what it cost; a line
found in both an archive and the kept transcript (same session, id and timestamp) counts once. Files not
modified since the window began are skipped unread. The scan runs in a worker thread (``summarize`` is
plain blocking code); the method caches its result for 30 s per ``days``, as the original.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

import attrs

from ..config.model import Config
from .usage import PRICE_KINDS, model_price, price_usage

DEFAULT_DAYS = 30
MAX_DAYS = 3660
MAX_SESSIONS = 200  # rows of bySession (the costliest)
MAX_LINE = 4 * 1024 * 1024  # a longer line is not a usage entry we could read: skipped
_TRANSCRIPT = re.compile(r"^(?P<sid>[A-Za-z0-9_-]+?)(?:-topic-[^.]+)?\.jsonl(?:\.(?:bak|deleted)\.[^/]+)?$")
_TOKEN_KEYS = {"input": ("input", "inputTokens", "input_tokens", "promptTokens", "prompt_tokens"),
               "output": ("output", "outputTokens", "output_tokens", "completionTokens", "completion_tokens"),
               "cacheRead": ("cacheRead", "cache_read", "cache_read_input_tokens"),
               "cacheWrite": ("cacheWrite", "cache_write", "cache_creation_input_tokens")}


@attrs.frozen
class SessionSource:
    """One agent's session directory and which session key each session id belongs to."""

    agent_id: str
    directory: Path
    keys: dict[str, str]  # sessionId → session key


def parse_days(raw: Any) -> int:
    """``days`` as the original reads it: a number or numeric text, floored; else 30; at least 1."""
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str) and raw.strip():
        try:
            value = float(raw)
        except ValueError:
            value = None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return DEFAULT_DAYS
    return max(1, min(MAX_DAYS, int(value // 1)))


def empty_totals() -> dict[str, Any]:
    return {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 0, "totalCost": 0.0,
            "inputCost": 0.0, "outputCost": 0.0, "cacheReadCost": 0.0, "cacheWriteCost": 0.0,
            "missingCostEntries": 0}


def normalize_usage(raw: Any) -> dict[str, int] | None:
    """Token counts under the reference's names from any of the spellings the original accepts."""
    if not isinstance(raw, dict):
        return None
    usage = {}
    for name, keys in _TOKEN_KEYS.items():
        value = next((raw[key] for key in keys if key in raw), 0)
        usage[name] = int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0
    total = next((raw[key] for key in ("total", "totalTokens", "total_tokens") if key in raw), None)
    usage["totalTokens"] = (int(total) if isinstance(total, int | float) and not isinstance(total, bool) and total > 0
                            else sum(usage.values()))
    return usage if any(usage.values()) else None


def _cost(raw: dict[str, Any], usage: dict[str, int], config: Config, provider: Any, model: Any,
          ) -> dict[str, float] | None:
    recorded = raw.get("cost")
    if isinstance(recorded, dict) and isinstance(recorded.get("total"), int | float) and recorded["total"] >= 0:
        parts = {kind: float(recorded.get(kind) or 0) for kind, _ in PRICE_KINDS}
        return {**parts, "total": float(recorded["total"])}
    price = model_price(config, provider if isinstance(provider, str) else None,
                        model if isinstance(model, str) else None)
    return price_usage(usage, price) if price is not None else None


def _add(totals: dict[str, Any], usage: dict[str, int], cost: dict[str, float] | None) -> None:
    for name in ("input", "output", "cacheRead", "cacheWrite", "totalTokens"):
        totals[name] += usage[name]
    if cost is None:
        totals["missingCostEntries"] += 1
        return
    totals["totalCost"] += cost["total"]
    for kind, _ in PRICE_KINDS:
        totals[f"{kind}Cost"] += cost[kind]


def _entries(path: Path):
    """``(line, message)`` of each assistant line with usage in one transcript file; a compaction line
    (its summary was a model call too) is its own message."""
    with path.open("rb") as lines:
        for raw in lines:
            if len(raw) > MAX_LINE or b'"usage"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:  # a torn or foreign line: not an entry
                continue
            message = line.get("message") if isinstance(line, dict) else None
            if isinstance(message, dict) and message.get("role") == "assistant":
                yield line, message
            elif isinstance(line, dict) and line.get("type") == "compaction":
                yield line, line


def _timestamp_ms(line: dict[str, Any], message: dict[str, Any]) -> int | None:
    stamp = line.get("timestamp")
    if isinstance(stamp, str):
        try:
            return int(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    stamp = message.get("timestamp")
    return int(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None


def window_start_ms(days: int, now_ms: int) -> int:
    """Local midnight of the first of the last ``days`` days, today included."""
    today = datetime.datetime.fromtimestamp(now_ms / 1000).date()
    first = datetime.datetime.combine(today - datetime.timedelta(days=days - 1), datetime.time())
    return int(first.timestamp() * 1000)


def summarize(sources: list[SessionSource], config: Config, *, days: int, now_ms: int) -> dict[str, Any]:
    """The ``usage.cost`` result (blocking: run it in a worker thread)."""
    since = window_start_ms(days, now_ms)
    totals = empty_totals()
    daily: dict[str, Any] = {}
    by_model: dict[tuple[str, str], Any] = {}
    by_session: dict[tuple[str, str], Any] = {}
    seen: set[tuple[str, str, Any, Any]] = set()
    for source in sources:
        try:
            names = sorted(os.listdir(source.directory))
        except OSError:  # no sessions yet (or unreadable): nothing to count
            continue
        for name in names:
            matched = _TRANSCRIPT.match(name)
            path = source.directory / name
            try:
                if matched is None or path.stat().st_mtime * 1000 < since or not path.is_file():
                    continue
                entries = list(_entries(path))
            except OSError:
                continue
            sid = matched.group("sid")
            for line, message in entries:
                when = _timestamp_ms(line, message)
                usage = normalize_usage(message.get("usage"))
                if when is None or when < since or usage is None:
                    continue
                mark = (source.agent_id, sid, line.get("id"), line.get("timestamp"))
                if mark in seen:
                    continue
                seen.add(mark)
                provider, model = message.get("provider"), message.get("model")
                cost = _cost(message["usage"], usage, config, provider, model)
                day = datetime.datetime.fromtimestamp(when / 1000).date().isoformat()
                model_key = (str(provider or ""), str(model or ""))
                session_key = (source.agent_id, sid)
                for bucket in (totals, daily.setdefault(day, empty_totals()),
                               by_model.setdefault(model_key, empty_totals()),
                               by_session.setdefault(session_key, empty_totals())):
                    _add(bucket, usage, cost)
    sessions = [{"agentId": agent_id, "key": next((s.keys.get(sid) for s in sources if s.agent_id == agent_id), None),
                 "sessionId": sid, **bucket} for (agent_id, sid), bucket in by_session.items()]
    sessions.sort(key=lambda row: (-row["totalCost"], -row["totalTokens"], row["sessionId"]))
    return {
        "updatedAt": now_ms, "days": days,
        "daily": [{"date": day, **bucket} for day, bucket in sorted(daily.items())],
        "totals": totals,
        "byModel": sorted(({"provider": provider or None, "model": model or None, **bucket}
                           for (provider, model), bucket in by_model.items()),
                          key=lambda row: (-row["totalCost"], -row["totalTokens"])),
        "bySession": sessions[:MAX_SESSIONS],
    }

"""``sessions.list``, ``sessions.preview``, ``sessions.patch``, ``sessions.reset``, ``sessions.delete``."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import trio

from ...agents.sessions import InvalidSessionEntry, SessionStore, message_text, normalize_agent_id, now_ms
from ...protocol import INVALID_REQUEST, UNAVAILABLE, UNSET, ProtocolError
from ...protocol._payloads.agent import (
    SessionKeyParams,
    SessionsDeleteParams,
    SessionsListParams,
    SessionsPatchParams,
    SessionsPreviewParams,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

log = logging.getLogger("moltbot.gateway")

PREVIEW_KEYS = 64  # keys of one sessions.preview that are read (the rest are ignored, and not checked)

ROW_FIELDS = ("label", "displayName", "channel", "subject", "chatType", "origin", "sessionId", "systemSent",
              "abortedLastRun", "thinkingLevel", "verboseLevel", "reasoningLevel", "elevatedLevel", "sendPolicy",
              "inputTokens", "outputTokens", "totalTokens", "responseUsage", "modelProvider", "model",
              "contextTokens", "deliveryContext", "lastChannel", "lastTo", "lastAccountId")
PATCHABLE = {"label": "label", "thinking_level": "thinkingLevel", "verbose_level": "verboseLevel",
             "reasoning_level": "reasoningLevel", "response_usage": "responseUsage",
             "elevated_level": "elevatedLevel", "send_policy": "sendPolicy", "model": "model",
             "group_activation": "groupActivation"}


def _kind(key: str) -> str:
    if key in ("global", "unknown"):
        return key
    return "group" if ":group:" in key or ":channel:" in key else "direct"


async def load_store(store: SessionStore) -> None:
    """``store.load()``; a store that cannot be read is logged (with its path and why) and answered with a
    clean ``UNAVAILABLE`` (no path, no OS error text)."""
    try:
        await store.load()
    except OSError as exc:
        log.error("session store %s cannot be read: %s", store.path, exc)
        raise ProtocolError(UNAVAILABLE, "session store unreadable (see the gateway log)") from None


async def read_messages(store: SessionStore, entry: dict[str, Any], limit: int = 0) -> list[dict[str, Any]]:
    """The transcript of ``entry``, or ``UNAVAILABLE`` (no path, no OS error text) if it cannot be read."""
    try:
        return await store.read_transcript(store.transcript_path(entry), limit)
    except InvalidSessionEntry as exc:
        log.warning("session store %s: %s", store.path, exc)
        raise ProtocolError(UNAVAILABLE, "session transcript unreadable (see the gateway log)") from None
    except (OSError, ValueError) as exc:
        log.error("session transcript of %s cannot be read: %s", store.path, exc)
        raise ProtocolError(UNAVAILABLE, "session transcript unreadable (see the gateway log)") from None


async def _entries(runtime: Runtime, agent_id: str | None) -> list[tuple[str, dict[str, Any], Any]]:
    rows = []
    for agent in ([agent_id] if agent_id else runtime.agents.agent_ids()):
        store = runtime.agents.store(agent)
        await load_store(store)
        rows += [(key, entry, store) for key, entry in store.entries.items()]
    return rows


async def sessions_list(runtime: Runtime, connection: Connection, params: SessionsListParams) -> dict[str, Any]:
    now = now_ms()
    rows = []
    agent_id = normalize_agent_id(params.agent_id) if params.agent_id else None  # checked by ids.py
    for key, entry, store in await _entries(runtime, agent_id):
        kind = _kind(key)
        if (kind == "global" and not params.include_global) or (kind == "unknown" and not params.include_unknown):
            continue
        if params.active_minutes and now - entry.get("updatedAt", 0) > params.active_minutes * 60_000:
            continue
        if params.label and entry.get("label") != params.label:
            continue
        if params.spawned_by and entry.get("spawnedBy") != params.spawned_by:
            continue
        if params.search and params.search.lower() not in (key + " " + str(entry.get("label", ""))).lower():
            continue
        row = {"key": key, "kind": kind, "updatedAt": entry.get("updatedAt")}
        row.update({field: entry[field] for field in ROW_FIELDS if field in entry})
        if params.include_last_message or params.include_derived_titles:
            try:
                messages = await read_messages(store, entry)
            except ProtocolError:  # logged; the row is listed without its previews
                messages = []
            texts = [message_text(m) for m in messages if message_text(m)]
            if params.include_last_message and texts:
                row["lastMessagePreview"] = texts[-1][:240]
            if params.include_derived_titles and texts:
                row["derivedTitle"] = texts[0][:60]
        rows.append(row)
    rows.sort(key=lambda r: r.get("updatedAt") or 0, reverse=True)
    if params.limit:
        rows = rows[: params.limit]
    store = runtime.agents.store(agent_id or runtime.agents.default_agent_id())
    return {"ts": now, "path": str(store.path), "count": len(rows),
            "defaults": {"modelProvider": None, "model": None, "contextTokens": None}, "sessions": rows}


async def sessions_preview(runtime: Runtime, connection: Connection, params: SessionsPreviewParams) -> dict[str, Any]:
    limit, max_chars = params.limit or 12, params.max_chars or 240
    previews = []
    for raw_key in params.keys[:PREVIEW_KEYS]:
        key = runtime.agents.canonical(raw_key)
        store = runtime.agents.store(runtime.agents._agent_for(key))
        await load_store(store)
        entry = store.entries.get(key)
        if entry is None:
            previews.append({"key": key, "status": "missing", "items": []})
            continue
        try:
            messages = await read_messages(store, entry, limit)
        except ProtocolError:
            previews.append({"key": key, "status": "error", "items": []})
            continue
        items = [{"role": m.get("role") if m.get("role") in ("user", "assistant", "tool", "system") else "other",
                  "text": message_text(m)[:max_chars]} for m in messages]
        previews.append({"key": key, "status": "ok" if items else "empty", "items": items})
    return {"ts": now_ms(), "previews": previews}


async def _entry(runtime: Runtime, raw_key: str) -> tuple[str, dict[str, Any] | None, Any]:
    key = runtime.agents.canonical(raw_key)
    store = runtime.agents.store(runtime.agents._agent_for(key))
    await load_store(store)
    return key, store.entries.get(key), store


async def sessions_patch(runtime: Runtime, connection: Connection, params: SessionsPatchParams) -> dict[str, Any]:
    key, entry, store = await _entry(runtime, params.key)
    if entry is None:
        entry = await store.ensure(key)
    for name, field in PATCHABLE.items():
        value = getattr(params, name)
        if value is UNSET:
            continue
        if value is None:
            entry.pop(field, None)
        else:
            entry[field] = value
    entry["updatedAt"] = now_ms()
    await store.save()
    return {"ok": True, "path": str(store.path), "key": key, "entry": entry}


async def sessions_reset(runtime: Runtime, connection: Connection, params: SessionKeyParams) -> dict[str, Any]:
    key, entry, store = await _entry(runtime, params.key)
    if entry is None:
        raise ProtocolError(INVALID_REQUEST, f"unknown session: {key}")
    for field in ("inputTokens", "outputTokens", "totalTokens", "sessionFile"):
        entry.pop(field, None)
    entry.update({"sessionId": str(uuid.uuid4()), "updatedAt": now_ms()})
    await store.save()
    return {"ok": True, "key": key, "entry": entry}


async def sessions_delete(runtime: Runtime, connection: Connection, params: SessionsDeleteParams) -> dict[str, Any]:
    key, entry, store = await _entry(runtime, params.key)
    if key == runtime.agents.main_key(runtime.agents._agent_for(key)):
        raise ProtocolError(INVALID_REQUEST, f"Cannot delete the main session ({key}).")
    if entry is None:
        return {"ok": True, "key": key, "deleted": False, "archived": []}
    runtime.agents.abort(key, reason="rpc")
    archived = []
    if params.delete_transcript is not False:
        path = store.transcript_path(entry)
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace(":", "-")
        target = path.with_name(f"{path.name}.deleted.{stamp}")
        await store.settled(path)  # a running turn's user line: archived with the rest, not written after
        if await trio.Path(path).exists():
            await trio.Path(path).rename(target)
            archived.append(str(target))
    del store.entries[key]
    await store.save()
    return {"ok": True, "key": key, "deleted": True, "archived": archived}


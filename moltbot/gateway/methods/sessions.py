"""``sessions.list``, ``sessions.preview``, ``sessions.patch``, ``sessions.reset``, ``sessions.delete``."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import trio

from ...agents.providers.base import ProviderError
from ...agents.sessions import InvalidSessionEntry, SessionStore, message_text, normalize_agent_id, now_ms
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    UNSET,
    ProtocolError,
    SessionKeyParams,
    SessionsDeleteParams,
    SessionsListParams,
    SessionsPatchParams,
    SessionsPreviewParams,
)
from .ids import PREVIEW_KEYS

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

log = logging.getLogger("moltbot.gateway")


ROW_FIELDS = ("label", "displayName", "channel", "subject", "chatType", "origin", "sessionId", "systemSent",
              "abortedLastRun", "thinkingLevel", "verboseLevel", "reasoningLevel", "elevatedLevel", "sendPolicy",
              "inputTokens", "outputTokens", "totalTokens", "responseUsage", "modelProvider", "model",
              "contextTokens", "deliveryContext", "lastChannel", "lastTo", "lastAccountId")
PATCHABLE = {"label": "label", "thinking_level": "thinkingLevel", "verbose_level": "verboseLevel",
             "reasoning_level": "reasoningLevel", "response_usage": "responseUsage",
             "elevated_level": "elevatedLevel", "send_policy": "sendPolicy",
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


def _selects_nothing(params: SessionsListParams) -> bool:
    """Filters on what no session here has (archives, boards, pins, groups, projects, owners, creators,
    profiles, Control UI faces): asking for it selects no row, which is true of this store."""
    return (params.archived is True or params.has_board is True or params.pinned is True
            or params.involving_me is True or bool(params.group)
            or any(value is not None for value in (params.board_face, params.project_id, params.workspace_dir,
                                                   params.creator_id, params.owner_id, params.involving_profile_id)))


def _keeps(params: SessionsListParams, key: str, entry: dict[str, Any], now: int, active: set[str]) -> bool:
    kind = _kind(key)
    if (kind == "global" and not params.include_global) or (kind == "unknown" and not params.include_unknown):
        return False
    if params.active_minutes and now - entry.get("updatedAt", 0) > params.active_minutes * 60_000:
        return False
    if params.active_only and key not in active:
        return False
    if params.exclude_subagents and ":subagent:" in key:
        return False
    if params.exclude_cron and ":cron:" in key:
        return False
    if params.label and entry.get("label") != params.label:
        return False
    if params.spawned_by and entry.get("spawnedBy") != params.spawned_by:
        return False
    return not (params.search and params.search.lower() not in (key + " " + str(entry.get("label", ""))).lower())


async def _row(params: SessionsListParams, key: str, entry: dict[str, Any], store: SessionStore) -> dict[str, Any]:
    row = {"key": key, "kind": _kind(key), "updatedAt": entry.get("updatedAt")}
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
    return row


async def sessions_list(runtime: Runtime, connection: Connection, params: SessionsListParams) -> dict[str, Any]:
    """The store's sessions, newest first, filtered then paged (``offset``/``limit``, protocol 4's
    ``totalCount``/``hasMore``/``nextOffset`` beside January's ``count``). Every sort order is by
    ``updatedAt``: the time this gateway records for a session's last turn or change (it keeps no
    separate interaction or activity time)."""
    now = now_ms()
    agent_id = normalize_agent_id(params.agent_id) if params.agent_id else None  # checked by ids.py
    active = {run.session_key for run in runtime.agents.runs.values() if not run.done.is_set()}
    matches = [] if _selects_nothing(params) else [
        (key, entry, store) for key, entry, store in await _entries(runtime, agent_id)
        if _keeps(params, key, entry, now, active)]
    matches.sort(key=lambda match: match[1].get("updatedAt") or 0, reverse=True)
    offset = params.offset or 0
    page = matches[offset: offset + params.limit] if params.limit else matches[offset:]
    rows = [await _row(params, key, entry, store) for key, entry, store in page]
    following = offset + len(page)
    store = runtime.agents.store(agent_id or runtime.agents.default_agent_id())
    result = {"ts": now, "path": str(store.path), "count": len(rows),
              "defaults": {"modelProvider": None, "model": None, "contextTokens": None}, "sessions": rows,
              "totalCount": len(matches), "hasMore": following < len(matches),
              "nextOffset": following if following < len(matches) else None}
    if params.limit:
        result["limitApplied"] = params.limit
    if offset:
        result["offset"] = offset
    return result


async def sessions_preview(runtime: Runtime, connection: Connection, params: SessionsPreviewParams) -> dict[str, Any]:
    limit, max_chars = params.limit or 12, params.max_chars or 240
    previews: list[dict[str, Any]] = []
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
    if params.model is not UNSET:
        _patch_model(runtime, key, entry, params.model)
    entry["updatedAt"] = now_ms()
    await store.save()
    return {"ok": True, "path": str(store.path), "key": key, "entry": entry}


def _patch_model(runtime: Runtime, key: str, entry: dict[str, Any], model: str | None) -> None:
    """``model`` is the session's own model, as the original: ``providerOverride``/``modelOverride`` (what
    ``/model`` sets and the session's turns use), checked against the configured providers; ``null`` clears."""
    if model is None:
        entry.pop("providerOverride", None)
        entry.pop("modelOverride", None)
        return
    try:
        provider, name = runtime.resolve_provider(runtime.agents._agent_for(key), model)
    except ProviderError as exc:
        raise ProtocolError(INVALID_REQUEST, f"invalid model: {exc.message}") from None
    entry.update({"providerOverride": provider.id, "modelOverride": name})


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


"""``sessions.compact``: the original's line truncation (``agents/compaction.py`` ``truncate``).

It waits for the session's place in its lane (lane ``compaction``, one at a time), so no turn of the
session appends while the file is replaced; the answer is the original's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...agents.compaction import DEFAULT_MAX_LINES, truncate
from ...agents.sessions import normalize_agent_id, now_ms
from ...protocol import INVALID_REQUEST, ProtocolError, SessionsCompactParams
from .sessions import load_store

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime


async def sessions_compact(runtime: Runtime, connection: Connection, params: SessionsCompactParams) -> dict[str, Any]:
    agents = runtime.agents
    key = agents.canonical(params.key)
    agent_id = agents._agent_for(key)
    if params.agent_id is not None and normalize_agent_id(params.agent_id) != agent_id:
        raise ProtocolError(INVALID_REQUEST, f"session {key} does not belong to agent {params.agent_id}")
    store = agents.store(agent_id)
    await load_store(store)
    entry = store.entries.get(key)
    if entry is None or not isinstance(entry.get("sessionId"), str):
        return {"ok": True, "key": key, "compacted": False, "reason": "no sessionId"}
    async with agents.lanes.slot(agents.lanes.reserve(key, "compaction")):
        result = await truncate(store, store.transcript_path(entry), params.max_lines or DEFAULT_MAX_LINES)
        if not result.compacted:
            reason = {"reason": result.reason} if result.reason else {"kept": result.kept}
            return {"ok": True, "key": key, "compacted": False, **reason}
        for field in ("inputTokens", "outputTokens", "totalTokens"):
            entry.pop(field, None)
        entry["updatedAt"] = now_ms()
        await store.save()
    return {"ok": True, "key": key, "compacted": True, "archived": result.archived, "kept": result.kept}

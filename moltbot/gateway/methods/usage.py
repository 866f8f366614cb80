"""``usage.status`` and ``usage.cost``.

``usage.cost`` sums the transcripts (``agents/cost.py``) of every configured agent, or of ``agentId``,
in a worker thread, and keeps each result 30 s per ``(days, agentId)`` as the original does (a dashboard
polls it; a summary over a month of transcripts is not free). Concurrent callers of one key share one
scan. ``usage.status`` is the original's provider usage summary: the subscription windows (percent used,
reset time) that some providers report to OAuth logins; this gateway signs in to providers with API keys
only, which have no such windows, so it reports none (``providers: []``, the original's answer without
an OAuth login) and the tokens and dollars are in ``usage.cost``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import trio

from ...agents.cost import SessionSource, parse_days, summarize
from ...agents.sessions import normalize_agent_id, now_ms
from ...protocol import INVALID_REQUEST, EmptyParams, ProtocolError, UsageCostParams
from .sessions import load_store

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

CACHE_TTL = 30.0


class _Cached:
    def __init__(self) -> None:
        self.at = -CACHE_TTL
        self.summary: dict[str, Any] | None = None
        self.scanning: trio.Event | None = None


_CACHES: weakref.WeakKeyDictionary[Any, dict[tuple[int, str | None], _Cached]] = weakref.WeakKeyDictionary()


async def usage_status(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    return {"updatedAt": now_ms(), "providers": []}


async def sources(runtime: Runtime, agent_id: str | None) -> list[SessionSource]:
    agents = runtime.agents
    ids = agents.agent_ids()
    if agent_id is not None:
        agent_id = normalize_agent_id(agent_id)
        if agent_id not in ids:
            raise ProtocolError(INVALID_REQUEST, f"unknown agent id: {agent_id}")
        ids = [agent_id]
    found = []
    for each in ids:
        store = agents.store(each)
        await load_store(store)
        keys = {entry["sessionId"]: key for key, entry in store.entries.items()
                if isinstance(entry, dict) and isinstance(entry.get("sessionId"), str)}
        found.append(SessionSource(each, store.path.parent, keys))
    return found


async def usage_cost(runtime: Runtime, connection: Connection, params: UsageCostParams) -> dict[str, Any]:
    days = parse_days(params.days)
    cache = _CACHES.setdefault(runtime.agents, {}).setdefault((days, params.agent_id), _Cached())
    while cache.scanning is not None:  # another caller is scanning: its result is ours
        await cache.scanning.wait()
    if cache.summary is not None and trio.current_time() - cache.at < CACHE_TTL:
        return cache.summary
    cache.scanning = trio.Event()
    try:
        found = await sources(runtime, params.agent_id)
        config, now = runtime.config, now_ms()
        cache.summary = await trio.to_thread.run_sync(lambda: summarize(found, config, days=days, now_ms=now))
        cache.at = trio.current_time()
    finally:
        cache.scanning.set()
        cache.scanning = None
    return cache.summary

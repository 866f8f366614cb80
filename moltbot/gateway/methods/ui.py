"""Methods today's OpenClaw Control UI calls at start, for the features this gateway has.

``sessions.subscribe``, ``sessions.messages.subscribe``, ``sessions.describe``, ``chat.startup``,
``chat.metadata``, ``models.authStatus``, ``system.info``, ``sessions.observer.visibility`` and
``sessions.viewers.set``, ``plugin.surface.refresh``: each answers from what the gateway really holds (the session stores and
transcripts, the model providers, the host). The features it does not have answer "none here" in
``ui_none.py``. Shapes: ``protocol.schema.json`` where it defines them, else OpenClaw 2026.9.6's answers.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from ...agents.sessions import message_text, now_ms
from ...protocol import (
    INVALID_REQUEST,
    ChatMetadataParams,
    ChatStartupParams,
    EmptyParams,
    ModelsAuthStatusParams,
    PluginSurfaceRefreshParams,
    ProtocolError,
    SessionsDescribeParams,
    SessionsMessagesSubscribeParams,
    SessionsObserverVisibilityParams,
    SessionsViewersSetParams,
)
from .ids import STARTED, VIEWER_KEYS
from .sessions import ROW_FIELDS, _kind, load_store, read_messages

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

STARTUP_MESSAGES = 80  # chat.startup's default page (the UI asks for 80)
STARTUP_BYTES = 256 * 1024  # and for at most 256 KiB of it


async def sessions_subscribe(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    """From now until it disconnects, this connection receives ``sessions.changed`` (as OpenClaw's
    subscription, which ends with the connection; ``Runtime.sessions_changed``)."""
    runtime.session_subscribers.add(connection)
    return {"subscribed": True}


def input_receipts(runtime: Runtime, key: str, run_ids: list[str]) -> dict[str, Any]:
    """``chat.history``'s ``inputReceipts``: of the asked run ids, those of this session still queued
    (``pending``). A run here never takes another's input, so none is ``consumed``; ids of runs that
    started, ended, or that this gateway never saw are left out (as OpenClaw leaves out ids it holds no
    pending input for)."""
    wanted = dict.fromkeys(run_ids)
    receipts = [{"runId": run_id, "state": "pending"} for run_id in wanted
                if (run := runtime.agents.runs.get(run_id)) is not None
                and run.session_key == key and run.status == "queued"]
    return {"inputReceipts": receipts, "inputConsumptions": []}


async def sessions_messages_subscribe(runtime: Runtime, connection: Connection,
                                      params: SessionsMessagesSubscribeParams) -> dict[str, Any]:
    """As ``sessions.subscribe``: a session's ``chat`` events are broadcast to every operator already."""
    key = runtime.agents.canonical(params.key)
    return {"subscribed": True, "key": key}


async def _session(runtime: Runtime, raw_key: str) -> tuple[str, dict[str, Any] | None, Any]:
    key = runtime.agents.canonical(raw_key)
    store = runtime.agents.store(runtime.agents._agent_for(key))
    await load_store(store)
    return key, store.entries.get(key), store


def _row(key: str, entry: dict[str, Any], agent_id: str, main_key: str) -> dict[str, Any]:
    row = {"key": key, "kind": _kind(key), "agentId": agent_id, "isMain": key == main_key,
           "updatedAt": entry.get("updatedAt")}
    row.update({field: entry[field] for field in ROW_FIELDS if field in entry})
    return row


async def sessions_describe(runtime: Runtime, connection: Connection,
                            params: SessionsDescribeParams) -> dict[str, Any]:
    """The session's row as ``sessions.list`` gives it, or ``{session: null}`` for a key never used."""
    key, entry, store = await _session(runtime, params.key)
    if entry is None:
        return {"session": None}
    agent_id = runtime.agents._agent_for(key)
    row = _row(key, entry, agent_id, runtime.agents.main_key(agent_id))
    if params.include_last_message or params.include_derived_titles:
        texts = [text for m in await read_messages(store, entry) if (text := message_text(m))]
        if params.include_last_message and texts:
            row["lastMessagePreview"] = texts[-1][:240]
        if params.include_derived_titles and texts:
            row["derivedTitle"] = texts[0][:60]
    return {"session": row}


async def chat_startup(runtime: Runtime, connection: Connection, params: ChatStartupParams) -> dict[str, Any]:
    """The newest page of a session's transcript (as ``chat.history``), bounded by ``limit`` messages and
    ``maxBytes`` of text, with the session's row; an unused key is an empty chat."""
    key, entry, store = await _session(runtime, params.session_key)
    agent_id = runtime.agents._agent_for(key)
    result: dict[str, Any] = {"sessionKey": key, "messages": [], "pendingInputs": {"items": [], "total": 0},
                              "hasMore": False, "totalMessages": 0}
    if params.input_run_ids is not None:
        result.update(input_receipts(runtime, key, params.input_run_ids))
    if entry is None:
        return result
    messages = await read_messages(store, entry)
    limit = params.limit or STARTUP_MESSAGES
    budget = min(params.max_bytes or STARTUP_BYTES, STARTUP_BYTES)
    kept: list[dict[str, Any]] = []
    size = 0
    for message in reversed(messages[-limit:]):  # newest first until the byte budget, then back in order
        size += len(message_text(message).encode("utf-8")) + 200
        if size > budget and kept:
            break
        kept.append(message)
    result.update(messages=list(reversed(kept)), hasMore=len(kept) < len(messages), totalMessages=len(messages),
                  sessionId=entry.get("sessionId"),
                  sessionInfo=_row(key, entry, agent_id, runtime.agents.main_key(agent_id)))
    if entry.get("thinkingLevel"):
        result["thinkingLevel"] = entry["thinkingLevel"]
    return result


async def chat_metadata(runtime: Runtime, connection: Connection, params: ChatMetadataParams) -> dict[str, Any]:
    """The models a chat may pick (``models.list``'s) and its slash commands: none are registered here."""
    models = [{"id": info.id, "name": info.name, "provider": info.provider} for info in runtime.list_models()]
    return {"models": models, "commands": []}


async def models_auth_status(runtime: Runtime, connection: Connection,
                             params: ModelsAuthStatusParams) -> dict[str, Any]:
    """Each usable provider: with an API key ``static`` (OpenClaw's status for a key), without one (echo, a
    local server) ``ok``. No OAuth or auth profiles exist here."""
    providers = []
    for provider_id, provider in runtime.models.providers().items():
        status = "static" if getattr(provider, "_api_key", None) else "ok"
        providers.append({"provider": provider_id, "authProvider": provider_id, "displayName": provider_id,
                          "status": status, "profiles": []})
    return {"ts": now_ms(), "providers": providers, "providerCapabilities": []}


def _memory() -> tuple[int, int]:
    try:
        pages, free = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0, 0
    return pages * size, free * size


async def system_info(runtime: Runtime, connection: Connection, params: EmptyParams) -> dict[str, Any]:
    """The host as the OS reports it; ``nodeVersion`` is the runtime's version (Python here, not Node)."""
    total, free = _memory()
    uname = platform.uname()
    info: dict[str, Any] = {
        "machineName": socket.gethostname(), "hostname": socket.gethostname(), "platform": sys.platform,
        "release": uname.release, "arch": uname.machine, "osLabel": f"{uname.system} {uname.release}",
        "nodeVersion": f"python {platform.python_version()}", "pid": os.getpid(),
        "uptimeMs": int((time.monotonic() - STARTED) * 1000), "cpuCount": os.cpu_count() or 0,
        "memoryTotalBytes": total, "memoryFreeBytes": free,
    }
    try:
        info["loadAverage"] = list(os.getloadavg())
    except OSError:
        pass
    state_dir = str(runtime.config.state_dir or os.getcwd())
    try:
        disk = shutil.disk_usage(state_dir)
    except OSError:
        return info
    info.update(diskTotalBytes=disk.total, diskAvailableBytes=disk.free)
    return info


async def sessions_observer_visibility(runtime: Runtime, connection: Connection,
                                       params: SessionsObserverVisibilityParams) -> dict[str, Any]:
    """Nothing here changes with the page's visibility (no observer streams to pause)."""
    return {"ok": True}


async def sessions_viewers_set(runtime: Runtime, connection: Connection,
                               params: SessionsViewersSetParams) -> dict[str, Any]:
    """Viewer presence is not shared with other clients here: the keys are acknowledged as given."""
    return {"sessionKeys": [runtime.agents.canonical(key) for key in params.session_keys[:VIEWER_KEYS]]}


async def plugin_surface_refresh(runtime: Runtime, connection: Connection,
                                 params: PluginSurfaceRefreshParams) -> dict[str, Any]:
    """The canvas host's URL (the one surface here) while it runs; any other surface is unknown."""
    url = runtime.canvas_host_url(connection.transport.facts) if params.surface == "canvas" else None
    if url is None:
        raise ProtocolError(INVALID_REQUEST, f"unknown plugin surface: {params.surface[:64]}")
    return {"surface": "canvas", "pluginSurfaceUrls": {"canvas": url}}

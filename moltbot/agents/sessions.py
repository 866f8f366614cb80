"""Session keys, the session store (``sessions.json``) and transcripts (``<sessionId>.jsonl``).

The formats are the original's, so an existing state dir is readable: the store is a JSON object
``{storeKey: SessionEntry}`` written atomically; a transcript starts with a ``session`` header line and
has one ``message`` line per message, each line written whole (a crash leaves at most a torn last line,
which the reader skips).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import trio

from ..protocol import dumps
from ..store.atomic import ensure_dir, write_atomic
from ..store.ids import is_session_id

log = logging.getLogger("moltbot.agents")

DEFAULT_AGENT_ID = "main"
RECENT_KEPT = 200  # messages of a transcript kept in memory per session
RECENT_SESSIONS = 256
TRANSCRIPT_VERSION = 3
_AGENT_ID = re.compile(r"[^a-z0-9_-]")


def normalize_agent_id(agent_id: str | None) -> str:
    value = _AGENT_ID.sub("-", (agent_id or "").strip().lower())[:64].lstrip("-_")
    return value or DEFAULT_AGENT_ID


def main_session_key(agent_id: str, main_key: str = "main", scope: str = "per-sender") -> str:
    return "global" if scope == "global" else f"agent:{normalize_agent_id(agent_id)}:{main_key}"


def canonical_key(key: str, *, default_agent: str = DEFAULT_AGENT_ID, main_key: str = "main",
                  scope: str = "per-sender") -> str:
    """Canonicalise a session key the way the original's RPCs do."""
    key = key.strip().lower()
    if key in ("global", "unknown"):
        return key
    if key.startswith("agent:"):
        parts = key.split(":")
        if len(parts) == 3 and parts[2] in ("main", main_key):
            return main_session_key(parts[1], main_key, scope)
        return key
    if key in ("main", main_key):
        return main_session_key(default_agent, main_key, scope)
    return f"agent:{normalize_agent_id(default_agent)}:{key}"


def agent_of(key: str, default_agent: str = DEFAULT_AGENT_ID) -> str:
    return key.split(":")[1] if key.startswith("agent:") and key.count(":") >= 2 else default_agent


def now_ms() -> int:
    return time.time_ns() // 1_000_000  # called per streamed delta: no datetime object


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_store(entries: dict[str, Any]) -> str:
    """``sessions.json`` text: one entry per line under the top-level object. Each entry goes through
    the C encoder (``indent`` would force the pure-Python one: ~10x slower, paid on every turn)."""
    if not entries:
        return "{}\n"
    lines = (f"  {dumps(key)}: {dumps(value)}"
             for key, value in entries.items())
    return "{\n" + ",\n".join(lines) + "\n}\n"


class InvalidSessionEntry(ValueError):
    """A session entry names no transcript file that can be used (its message names no path)."""


class _Append:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: Exception | None = None


class SessionStore:
    """One agent's ``sessions.json``: loaded once, kept in memory, written atomically on change."""

    def __init__(self, path: Path, *, on_change: Callable[[dict[str, Any], bool], None] | None = None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        # ``sessions.changed`` payloads go to on_change(payload, droppable) as the store is written
        self.on_change = on_change
        self._seen: dict[str, dict[str, Any]] = {}  # each entry as last written (what changed is told apart)
        self._loaded = False
        self._lock = trio.Lock()
        self._load_lock = trio.Lock()
        self._changes = 0  # save() calls so far
        self._saved = 0  # the save() calls whose changes are on disk
        self._recent: dict[Path, deque[dict[str, Any]]] = {}
        self._appending: dict[Path, _Append] = {}  # background appends in flight (begin_turn's)

    async def load(self) -> None:
        """Read the file once. Concurrent first callers wait for that one read (an entry added while it
        was in flight would be replaced by the file's contents: lost)."""
        if self._loaded:
            return
        async with self._load_lock:
            if not self._loaded:
                self.entries = await trio.to_thread.run_sync(self._read)
                self._seen = {key: dict(entry) for key, entry in self.entries.items() if isinstance(entry, dict)}
                self._loaded = True

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            backup = self.path.with_suffix(f".corrupt.{int(now_ms())}")
            self.path.rename(backup)
            log.error("session store %s did not parse (%s); moved aside to %s", self.path, exc, backup)
            return {}
        return data if isinstance(data, dict) else {}

    async def save(self) -> None:
        """Write the store; returns once a write that includes every change made before the call is done.

        Concurrent callers share writes: whoever gets the lock writes everything changed so far, and the
        callers whose changes that write already holds return without writing again (100 turns ending
        together cost a few fsyncs, not 100)."""
        self._announce()
        self._changes += 1
        wanted = self._changes
        async with self._lock:
            if self._saved >= wanted:
                return
            current = self._changes
            text = encode_store(self.entries)
            await trio.to_thread.run_sync(write_atomic, self.path, text)
            self._saved = current

    async def ensure(self, key: str, **fields: Any) -> dict[str, Any]:
        """The entry for ``key``, created (with a fresh ``sessionId``) if missing.

        A new entry is written with the run's results at the end of its first turn (one fsync'ed write
        per turn, not two; a crash before that leaves at most a transcript no entry points to yet)."""
        await self.load()
        entry = self.entries.get(key)
        if entry is None:
            entry = {"sessionId": str(uuid.uuid4()), "updatedAt": now_ms(), **fields}
            self.entries[key] = entry
        return entry

    def _announce(self) -> None:
        """Tell ``on_change`` which rows were created, changed or deleted since the last write: one
        ``sessions.changed`` payload each (OpenClaw's reasons ``create``/``update``/``reset``/``delete``;
        ``reset`` is a new ``sessionId`` under the same key). Found by comparing each entry with its copy
        as last written, so every writer (turns, sessions.patch/reset/delete, cron) is covered."""
        if self.on_change is None:
            return
        seen, changes = self._seen, []
        for key, entry in self.entries.items():
            before = seen.get(key)
            if before == entry:
                continue
            reason = "create" if before is None else (
                "reset" if before.get("sessionId") != entry.get("sessionId") else "update")
            changes.append((key, reason, entry.get("sessionId")))
            seen[key] = dict(entry)
        for key in [key for key in seen if key not in self.entries]:
            changes.append((key, "delete", seen.pop(key).get("sessionId")))
        for key, reason, session_id in changes:
            payload = {"sessionKey": key, "reason": reason, "ts": now_ms()}
            if isinstance(session_id, str):
                payload["sessionId"] = session_id
            self.on_change(payload, True)

    async def recent_messages(self, path: Path, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` messages of a transcript, read from disk once per session and then kept
        (a full parse per turn grows with the transcript: 11 ms at 600 turns)."""
        cached = self._recent.get(path)
        if cached is None:
            cached = deque(await read_transcript(path, RECENT_KEPT), maxlen=RECENT_KEPT)
            self._recent[path] = cached
            while len(self._recent) > RECENT_SESSIONS:
                self._recent.pop(next(iter(self._recent)))
        return list(cached)[-limit:]

    async def begin_turn(self, path: Path, line: dict[str, Any], session_id: str, limit: int, *,
                         fresh: bool = False, spawn: Callable[[Callable[[], Any]], None] | None = None,
                         ) -> list[dict[str, Any]]:
        """The last ``limit`` messages of a transcript (as ``recent_messages``), then ``line`` appended to it.

        With ``spawn`` (a task starter) and a session whose tail is known (cached, or ``fresh``: its entry
        was created for this turn, so it has no transcript yet), the append runs in the background while
        the model is asked: ``settled(path)`` waits for it (readers of the transcript and every later
        append do), and the turn must call ``settled(path, owner=True)`` before it ends. A session not
        cached yet is read and appended to in one worker-thread hop."""
        cached = self._recent.get(path)
        if cached is None and fresh:
            cached = self._cache(path, [])
        if cached is not None:
            await self.settled(path)
            history = list(cached)[-limit:]
            if spawn is None:
                await self.append(path, [line], session_id)
                return history
            pending = self._appending[path] = _Append()
            cached.extend(m["message"] for m in [line] if m.get("type") == "message")
            spawn(partial(self._append_in_background, path, [line], session_id, pending))
            return history
        messages = await trio.to_thread.run_sync(_read_then_append, path, RECENT_KEPT, [line], session_id)
        cached = self._cache(path, messages)
        history = list(cached)[-limit:]
        if line.get("type") == "message":
            cached.append(line["message"])
        return history

    def _cache(self, path: Path, messages: list[dict[str, Any]]) -> deque[dict[str, Any]]:
        cached = self._recent[path] = deque(messages, maxlen=RECENT_KEPT)
        while len(self._recent) > RECENT_SESSIONS:
            self._recent.pop(next(iter(self._recent)))
        return cached

    async def _append_in_background(self, path: Path, lines: list[dict[str, Any]], session_id: str,
                                    pending: _Append) -> None:
        try:
            await append_transcript(path, lines, session_id)
        except Exception as exc:  # handed to the turn (settled(owner=True)); the runtime's nursery goes on
            pending.error = exc
        finally:
            pending.done.set()

    async def settled(self, path: Path, *, owner: bool = False) -> None:
        """Wait until no background append to ``path`` is in flight. ``owner``: the turn that started it
        takes its outcome (its failure is raised here)."""
        pending = self._appending.get(path)
        if pending is None:
            return
        await pending.done.wait()
        if owner:
            if self._appending.get(path) is pending:
                del self._appending[path]
            if pending.error is not None:
                self._recent.pop(path, None)  # it holds the line that was not written: read again next time
                raise pending.error

    def forget(self, path: Path) -> None:
        """Drop the cached tail of a transcript that was rewritten (compaction): read again next time."""
        self._recent.pop(path, None)

    async def read_transcript(self, path: Path, limit: int = 0) -> list[dict[str, Any]]:
        """``read_transcript`` once the lines a running turn is appending are on disk."""
        await self.settled(path)
        return await read_transcript(path, limit)

    async def append_and_save(self, path: Path, lines: list[dict[str, Any]], session_id: str) -> None:
        """``append`` then ``save``: returns once the lines are written and the store holds every change
        made before the call. In one worker-thread hop when no store write is in flight; otherwise the
        lines are appended at once and the store write is shared as in ``save``."""
        await self.settled(path)
        if self._lock.locked():
            await self.append(path, lines, session_id)
            await self.save()
            return
        self._announce()
        self._changes += 1
        async with self._lock:
            current = self._changes
            text = encode_store(self.entries)
            await trio.to_thread.run_sync(_append_then_write, path, lines, session_id, self.path, text)
            self._saved = current
        cached = self._recent.get(path)
        if cached is not None:
            cached.extend(line["message"] for line in lines if line.get("type") == "message")

    async def append(self, path: Path, lines: list[dict[str, Any]], session_id: str) -> None:
        """Append whole lines to a transcript (and to its cached tail)."""
        await self.settled(path)
        await append_transcript(path, lines, session_id)
        cached = self._recent.get(path)
        if cached is not None:
            cached.extend(line["message"] for line in lines if line.get("type") == "message")

    def transcript_path(self, entry: dict[str, Any]) -> Path:
        """``<sessionsDir>/<sessionFile's name>`` or ``<sessionId>.jsonl``; never a path outside the store's
        directory. Raises ``InvalidSessionEntry`` for an entry (hand-edited, or from another program) whose
        ``sessionId`` is not a safe file name (``store/ids.py``) and which has no usable ``sessionFile``."""
        name = entry.get("sessionFile")
        if isinstance(name, str) and _usable_file_name(Path(name).name):
            return self.path.parent / Path(name).name
        session_id = entry.get("sessionId")
        if not isinstance(session_id, str) or not is_session_id(session_id):
            raise InvalidSessionEntry("the session's entry has no valid sessionId")
        return self.path.parent / f"{session_id}.jsonl"


def _usable_file_name(name: str) -> bool:
    """Whether ``name`` can be opened as one file name (no NUL, encodable, at most 255 bytes)."""
    if name in ("", ".", "..") or "\x00" in name:
        return False
    try:
        return len(name.encode("utf-8")) <= 255
    except UnicodeEncodeError:  # a lone surrogate
        return False


def message_line(role: str, text: str, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": [{"type": "text", "text": text}], "timestamp": now_ms()}
    message.update({k: v for k, v in extra.items() if v is not None})
    return {"type": "message", "id": uuid.uuid4().hex[:8], "timestamp": iso_now(), "message": message}


def _append_lines(path: Path, lines: list[dict[str, Any]], session_id: str) -> None:
    ensure_dir(path.parent)
    new = not path.exists()
    with open(path, "a", encoding="utf-8") as handle:
        if new:
            header = {"type": "session", "version": TRANSCRIPT_VERSION, "id": session_id, "timestamp": iso_now(),
                      "cwd": str(Path.cwd())}
            handle.write(dumps(header) + "\n")
        # One write per line: an interrupted append leaves at most one torn line at the end.
        for line in lines:
            handle.write(dumps(line) + "\n")


def _read_then_append(path: Path, limit: int, lines: list[dict[str, Any]], session_id: str) -> list[dict[str, Any]]:
    messages = _read_messages(path, limit)
    _append_lines(path, lines, session_id)
    return messages


def _append_then_write(path: Path, lines: list[dict[str, Any]], session_id: str, store_path: Path,
                       text: str) -> None:
    _append_lines(path, lines, session_id)
    write_atomic(store_path, text)


async def append_transcript(path: Path, lines: list[dict[str, Any]], session_id: str) -> None:
    await trio.to_thread.run_sync(_append_lines, path, lines, session_id)


def _read_messages(path: Path, limit: int) -> list[dict[str, Any]]:
    try:
        raw = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []
    messages = []
    for line in raw:
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a torn last line after a crash
        if isinstance(item, dict) and item.get("type") == "message" and isinstance(item.get("message"), dict):
            messages.append(item["message"])
        elif isinstance(item, dict) and item.get("type") == "compaction" and isinstance(item.get("summary"), str):
            messages.append(compaction_message(item))
    return messages[-limit:] if limit else messages


def compaction_message(line: dict[str, Any]) -> dict[str, Any]:
    """A ``compaction`` line (the summary of the turns before it, ``compaction.py``) as the message the
    reference's agent library makes of it: role ``compactionSummary``."""
    return {"role": "compactionSummary", "summary": line["summary"], "tokensBefore": line.get("tokensBefore"),
            "content": [{"type": "text", "text": line["summary"]}], "timestamp": line.get("ms")}


async def read_transcript(path: Path, limit: int = 0) -> list[dict[str, Any]]:
    return await trio.to_thread.run_sync(_read_messages, path, limit)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""

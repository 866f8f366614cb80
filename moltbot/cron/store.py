"""The cron store: ``jobs.json`` (atomic writes) and one JSONL run log per job, pruned.

The formats are the original's, so an existing state dir works: ``{"version": 1, "jobs": [CronJob…]}``
(read JSON5-tolerantly, written as JSON) and ``runs/<jobId>.jsonl`` beside it, one finished run per
line, each appended whole; a log over 2 MB is cut to its last 2,000 lines. Jobs the strict types cannot
read (from a newer original, or edited by hand) are kept verbatim and written back untouched, so a save
never loses them. A file that does not parse at all raises ``CronStoreError``; the service then
schedules nothing and refuses changes rather than overwrite it.

``FileCronStore`` does its file work in worker threads; ``MemoryCronStore`` keeps everything in memory
(tests, benchmarks, an embedded gateway without a state dir).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import attrs
import json5
import trio

from ..protocol import (
    CronJob,
    CronRunLogEntry,
    RemoteProtocolError,
    camel,
    dumps,
    normalize_cron_add,
    structure,
    unstructure,
)
from ..store.atomic import ensure_dir, write_atomic
from ..store.ids import is_job_id

__all__ = ["CronStore", "CronStoreError", "FileCronStore", "LoadedStore", "MemoryCronStore", "dump_jobs",
           "parse_jobs"]

MAX_LOG_BYTES = 2_000_000
KEEP_LOG_LINES = 2000
_ENTRY_KEYS = frozenset(camel(field.name) for field in attrs.fields(CronRunLogEntry))


class CronStoreError(Exception):
    """The jobs file exists but cannot be read as a store."""


@attrs.frozen
class LoadedStore:
    jobs: list[CronJob]
    kept: list[Any] = attrs.field(factory=list)  # entries we cannot read, written back as they were
    problems: list[str] = attrs.field(factory=list)


class CronStore(Protocol):
    path: str

    async def load(self) -> LoadedStore: ...

    async def save(self, jobs: list[CronJob], kept: list[Any]) -> None: ...

    async def append_run(self, entry: CronRunLogEntry) -> None: ...

    async def read_runs(self, job_id: str, limit: int) -> list[CronRunLogEntry]: ...


def safe_job_id(job_id: str) -> bool:
    """Whether ``job_id`` can name a run log file (no separators, no ``..``, no NUL, at most 128 characters:
    a longer name fails with ENAMETOOLONG)."""
    return is_job_id(job_id) and ".." not in job_id


def parse_jobs(text: str, *, where: str = "jobs.json") -> LoadedStore:
    """The jobs of a store file's text. Raises ``CronStoreError`` if it is not a store at all."""
    if not text.strip():
        return LoadedStore([])
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = json5.loads(text)
        except ValueError as exc:
            raise CronStoreError(f"{where} is not valid JSON: {exc}") from None
    raw_jobs = data.get("jobs", []) if isinstance(data, dict) else None
    if not isinstance(raw_jobs, list):
        raise CronStoreError(f'{where} is not a cron store (expected {{"version": 1, "jobs": [...]}})')
    jobs, kept, problems = [], [], []
    for index, raw in enumerate(raw_jobs):
        try:
            if not isinstance(raw, dict):
                raise RemoteProtocolError("INVALID_REQUEST", "invalid job: not an object")
            job = structure(normalize_cron_add(_named(raw)), CronJob, what="job")
        except RemoteProtocolError as exc:
            kept.append(raw)
            label = raw.get("id", "?") if isinstance(raw, dict) else "?"
            problems.append(f"{where}: jobs[{index}] (id {label}) kept but not scheduled: {exc.message}")
            continue
        jobs.append(job)
    return LoadedStore(jobs, kept, problems)


def dump_jobs(jobs: list[CronJob], kept: list[Any]) -> str:
    return dumps({"version": 1, "jobs": [unstructure(job) for job in jobs] + list(kept)}, indent=2) + "\n"


def _named(raw: dict[str, Any]) -> dict[str, Any]:
    """Old stores may lack a name: derive one as the original does (first line of the payload text)."""
    if isinstance(raw.get("name"), str) and raw["name"].strip():
        return raw
    payload: dict[str, Any] = raw["payload"] if isinstance(raw.get("payload"), dict) else {}
    text = payload.get("text") or payload.get("message") or ""
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return {**raw, "name": first[:60] or "Cron job"}


def _entry(line: str, job_id: str) -> CronRunLogEntry | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None  # a torn last line after a crash, or garbage: skipped
    if not isinstance(data, dict) or data.get("action") != "finished" or data.get("jobId") != job_id:
        return None
    try:  # keep the fields we know: newer originals write more
        return structure({k: v for k, v in data.items() if k in _ENTRY_KEYS}, CronRunLogEntry, what="entry")
    except RemoteProtocolError:
        return None


class FileCronStore:
    """``jobs.json`` at ``path`` and ``runs/`` beside it."""

    def __init__(self, path: Path, *, max_log_bytes: int = MAX_LOG_BYTES, keep_lines: int = KEEP_LOG_LINES) -> None:
        self.file = Path(path).expanduser()
        self.path = str(self.file)
        self.runs_dir = self.file.parent / "runs"
        self.max_log_bytes = max_log_bytes
        self.keep_lines = keep_lines
        self._log_lock = trio.Lock()

    async def load(self) -> LoadedStore:
        return await trio.to_thread.run_sync(self.load_sync)

    def load_sync(self) -> LoadedStore:
        try:
            text = self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return LoadedStore([])
        except (OSError, UnicodeDecodeError) as exc:
            raise CronStoreError(f"cannot read {self.file}: {exc}") from None
        return parse_jobs(text, where=str(self.file))

    async def save(self, jobs: list[CronJob], kept: list[Any]) -> None:
        await trio.to_thread.run_sync(self.save_sync, jobs, kept)

    def save_sync(self, jobs: list[CronJob], kept: list[Any]) -> None:
        write_atomic(self.file, dump_jobs(jobs, kept))

    def log_path(self, job_id: str) -> Path:
        return self.runs_dir / f"{job_id}.jsonl"

    async def append_run(self, entry: CronRunLogEntry) -> None:
        if not safe_job_id(entry.job_id):
            return
        async with self._log_lock:  # an append must not land between a prune's read and its rename
            await trio.to_thread.run_sync(self.append_run_sync, entry)

    def append_run_sync(self, entry: CronRunLogEntry) -> None:
        path = self.log_path(entry.job_id)
        ensure_dir(path.parent)
        line = (dumps(unstructure(entry)) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of the whole line
        finally:
            os.close(fd)
        if path.stat().st_size > self.max_log_bytes:
            lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
            write_atomic(path, "\n".join(lines[-self.keep_lines:]) + "\n")

    async def read_runs(self, job_id: str, limit: int) -> list[CronRunLogEntry]:
        if not safe_job_id(job_id):
            return []
        return await trio.to_thread.run_sync(self.read_runs_sync, job_id, limit)

    def read_runs_sync(self, job_id: str, limit: int) -> list[CronRunLogEntry]:
        try:
            lines = self.log_path(job_id).read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        newest: list[CronRunLogEntry] = []
        for line in reversed(lines):
            if len(newest) >= limit:
                break
            if line.strip() and (entry := _entry(line, job_id)) is not None:
                newest.append(entry)
        return newest[::-1]


class MemoryCronStore:
    """A store in memory (no file I/O, so no worker threads: ``MockClock(autojump_threshold=0)`` works)."""

    def __init__(self, jobs: list[CronJob] | None = None, *, path: str = "memory") -> None:
        self.path = path
        self.jobs = list(jobs or [])
        self.kept: list[Any] = []
        self.runs: dict[str, list[CronRunLogEntry]] = {}
        self.saves = 0

    async def load(self) -> LoadedStore:
        await trio.lowlevel.checkpoint()
        return LoadedStore(list(self.jobs), list(self.kept))

    async def save(self, jobs: list[CronJob], kept: list[Any]) -> None:
        await trio.lowlevel.checkpoint()
        self.jobs, self.kept = list(jobs), list(kept)
        self.saves += 1

    async def append_run(self, entry: CronRunLogEntry) -> None:
        await trio.lowlevel.checkpoint()
        self.runs.setdefault(entry.job_id, []).append(entry)

    async def read_runs(self, job_id: str, limit: int) -> list[CronRunLogEntry]:
        await trio.lowlevel.checkpoint()
        return self.runs.get(job_id, [])[-limit:]

"""A migration as a plan: every file it would write, said first (``--dry-run``), then written.

Reading the source builds the whole plan (``Action``s and ``notes``) without writing anything; applying it
writes each action's file atomically (temp file, fsync, rename; files 0600, directories 0700). The rule for
existing state is per target file: a file that exists is left alone unless ``force`` is given; with
``force``, a store (sessions, cron jobs, pairings) is *merged* (the source's entries replace entries with the
same key, the others stay) and any other file is replaced (a config file's previous version is kept as
``<path>.bak``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ..config.edit import backup_config_file
from ..store.atomic import copy_atomic, write_atomic

MAX_COPY_BYTES = 64 * 1024 * 1024  # one workspace or credentials file
MAX_COPY_FILES = 10_000  # files copied from one folder tree
MAX_JSON_BYTES = 64 * 1024 * 1024  # one JSON store or config file read from the source
TREE_KINDS = ("workspace", "credentials")  # actions that copy a folder tree, summarised per tree


class MigrateError(Exception):
    """The source cannot be migrated at all (missing, unreadable, not what it claims to be). The message names
    the file relative to the source folder and what is wrong, never a Python exception's text."""


@attrs.frozen
class Action:
    """One file to write. ``data`` is the content, or ``copy_from`` a file to copy; ``merge`` (for stores)
    combines the existing file's text with ``data`` when forced; ``config`` files keep a ``.bak``."""

    kind: str
    target: Path
    summary: str
    data: bytes | None = None
    copy_from: Path | None = None
    merge: Callable[[str, bytes], bytes] | None = None
    config: bool = False


@attrs.define
class Plan:
    """What a migration from ``source`` (``kind`` ``openclaw`` or ``clawdbot``) into ``state_dir`` would do."""

    kind: str
    source: Path
    state_dir: Path
    config_path: Path
    actions: list[Action] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    def add(self, action: Action) -> None:
        self.actions.append(action)

    def note(self, text: str) -> None:
        self.notes.append(text)


@attrs.frozen
class Outcome:
    action: Action
    status: str  # "written", "merged", "replaced", "skipped (exists)"


def describe(plan: Plan, *, force: bool) -> list[str]:
    """One line per action, as the dry run prints it: what would happen to each target. Copied folder trees
    (workspace, credentials) are one line each."""
    lines = []
    trees: dict[str, list[Action]] = {}
    for action in plan.actions:
        if action.kind in TREE_KINDS:
            trees.setdefault(action.kind, []).append(action)
            continue
        exists = action.target.exists()
        verb = (
            ("merge into" if action.merge else "replace")
            if exists and force
            else (
                "skip (exists; --force to " + ("merge" if action.merge else "replace") + ")"
                if exists
                else "write"
            )
        )
        lines.append(f"{verb} {action.target}: {action.summary}")
    for kind, actions in trees.items():
        existing = sum(1 for action in actions if action.target.exists())
        root = _common_root(actions)
        left = "replaced" if force else "left alone"
        lines.append(
            f"copy {len(actions)} {kind} file(s) into {root}"
            + (f" ({existing} exist and would be {left})" if existing else "")
        )
    return lines


def _common_root(actions: list[Action]) -> Path:
    root = Path(os.path.commonpath([str(action.target.parent) for action in actions]))
    return root


def apply_plan(
    plan: Plan, *, force: bool, on_action: Callable[[Action], None] | None = None
) -> list[Outcome]:
    """Write every action of ``plan`` (module docstring for existing files). Blocking file I/O.

    Every merge is computed before the first file is written, so an existing store that cannot be merged
    stops the import with nothing changed.

    Raises:
        MigrateError: an existing store cannot be merged (not valid JSON of the expected shape).
        OSError: a target cannot be written (disk full, permissions).
    """
    merged: dict[int, bytes] = {}
    for index, action in enumerate(plan.actions):
        if force and action.merge is not None and action.target.exists():
            try:
                merged[index] = action.merge(_read_text(action.target), action.data or b"")
            except MigrateError as exc:
                raise MigrateError(f"{action.target}: {exc}") from None
    outcomes = []
    for index, action in enumerate(plan.actions):
        if on_action is not None:  # progress (``moltbot migrate``): called once per action, before it
            on_action(action)
        exists = action.target.exists()
        if exists and not force:
            outcomes.append(Outcome(action, "skipped (exists)"))
            continue
        if action.copy_from is not None:
            copy_atomic(action.copy_from, action.target)
        else:
            if exists and action.config:
                backup_config_file(action.target)
            write_atomic(action.target, merged.get(index, action.data or b""))
        outcomes.append(
            Outcome(action, ("merged" if index in merged else "replaced") if exists else "written")
        )
    return outcomes


def summarize(outcomes: list[Outcome]) -> list[str]:
    """What ``apply_plan`` did, one line per file (copied folder trees: one line per tree and status)."""
    lines = []
    trees: dict[tuple[str, str], list[Action]] = {}
    for outcome in outcomes:
        if outcome.action.kind in TREE_KINDS:
            trees.setdefault((outcome.action.kind, outcome.status), []).append(outcome.action)
        else:
            lines.append(f"{outcome.status}: {outcome.action.target} ({outcome.action.summary})")
    for (kind, status), actions in trees.items():
        lines.append(f"{status}: {len(actions)} {kind} file(s) in {_common_root(actions)}")
    return lines


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        raise MigrateError("it exists but cannot be read: it is left as it is") from None


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def merge_maps(existing: str, imported: bytes) -> bytes:
    """A JSON object store (sessions, pairings): the imported entries replace those with the same key."""
    current = _loads_object(existing)
    current.update(json.loads(imported))
    return json_bytes(current)


def merge_jobs(existing: str, imported: bytes) -> bytes:
    """A cron store ``{version: 1, jobs: [...]}``: imported jobs replace those with the same id."""
    current = _loads_object(existing)
    jobs: list[Any] = current["jobs"] if isinstance(current.get("jobs"), list) else []
    new = json.loads(imported)["jobs"]
    ids = {job.get("id") for job in new}
    kept = [job for job in jobs if not (isinstance(job, dict) and job.get("id") in ids)]
    return json_bytes({**current, "version": current.get("version", 1), "jobs": kept + new})


def _loads_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise MigrateError(
            "an existing store is not a JSON object, so it cannot be merged: it is left as it is"
        )
    return value


def read_json_file(path: Path, source: Path, what: str) -> Any:
    """A JSON file of the source (bounded); ``MigrateError`` naming it relative to ``source`` when unreadable."""
    name = relative(path, source)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise MigrateError(f"{name} ({what}) is larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB")
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (
            "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or "unreadable"
        )
        raise MigrateError(f"{name} ({what}) cannot be read: {reason}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        line = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise MigrateError(f"{name} ({what}) is not valid JSON{line}: {message}") from None


def relative(path: Path, source: Path) -> str:
    try:
        return str(path.relative_to(source))
    except ValueError:
        return path.name


def copy_tree(plan: Plan, kind: str, source_dir: Path, target_dir: Path, what: str) -> int:
    """Plan a copy of every regular file under ``source_dir`` to the same place under ``target_dir``.
    Symbolic links, oversized files and files past ``MAX_COPY_FILES`` are listed in the notes, not copied.
    Returns the number of files planned."""
    count = 0
    skipped: list[str] = []
    for root, dirs, files in os.walk(source_dir):
        dirs.sort()
        base = Path(root)
        for name in sorted(files):
            path = base / name
            rel = path.relative_to(source_dir)
            if path.is_symlink() or not path.is_file():
                skipped.append(f"{rel} (not a regular file)")
            elif path.stat().st_size > MAX_COPY_BYTES:
                skipped.append(f"{rel} (larger than {MAX_COPY_BYTES // (1024 * 1024)} MiB)")
            elif count >= MAX_COPY_FILES:
                skipped.append(f"{rel} (more than {MAX_COPY_FILES} files)")
            else:
                plan.add(Action(kind, target_dir / rel, f"{what} file {rel}", copy_from=path))
                count += 1
        for name in [d for d in dirs if (base / d).is_symlink()]:
            skipped.append(f"{(base / name).relative_to(source_dir)}/ (a symbolic link)")
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        plan.note(f"{what}: not copied: {shown}")
    return count

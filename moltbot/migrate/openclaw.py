"""Import from today's OpenClaw: ``~/.openclaw`` with its state in SQLite (layout observed on
2026.9.6, shared schema 18, per-agent schema 23).

Read, never written: every database is opened read-only (``mode=ro``, so a running OpenClaw's WAL is seen
and nothing is changed). What is imported, and from where:
- config: ``openclaw.json`` (the keys we understand; ``migrate/config.py``);
- cron jobs: ``state/openclaw.sqlite`` ``cron_jobs`` (``job_json`` + ``state_json``), turned into January's
  job shape that ours runs (``schedule.at`` ISO → ``atMs``, ``delivery`` → ``payload.deliver/channel/to``);
  jobs OpenClaw declares itself (``declarationKey``: heartbeat, memory, skill review) and payload kinds we
  do not run (``heartbeat``, ``command``) are listed and left out;
- device pairings: ``device_pairing_paired`` (node hosts included: OpenClaw keeps them there too);
- sessions and transcripts: ``agents/<id>/agent/openclaw-agent.sqlite`` ``session_nodes`` (the entries) and
  ``transcript_events`` (one JSONL line per event, in ``seq`` order; the line format is the one ours
  writes: a ``session`` header, then ``message`` lines). Events stored zstd-compressed are read when the
  ``zstandard`` module is installed; otherwise those transcripts are listed and left out;
- workspace: ``workspace/`` when the config does not name another folder.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..agents.sessions import encode_store
from ..cron.store import CronStoreError, parse_jobs
from ..store.ids import is_agent_id, is_session_id, is_session_key
from .config import importable, read_source_config
from .plan import Action, MigrateError, Plan, copy_tree, json_bytes, merge_jobs, merge_maps, relative

SHARED_DB = Path("state") / "openclaw.sqlite"
AGENT_DB = Path("agent") / "openclaw-agent.sqlite"
# Session entry fields that belong to the OpenClaw process that wrote them (paths into its install, its runs).
ENTRY_DROPPED = ("skillsSnapshot", "activeWriterRunId")
NOT_IMPORTED = {  # table → what it holds (listed when not empty)
    "device_pairing_pending": "pending pairing requests (they expire after 5 minutes)",
    "delivery_queue_entries": "queued outbound deliveries",
    "cron_run_receipts": "cron run history",
    "auth_profile_store": "model provider auth profiles",
}
_JOB_KEYS = {
    "id",
    "name",
    "description",
    "enabled",
    "createdAtMs",
    "updatedAtMs",
    "schedule",
    "sessionTarget",
    "wakeMode",
    "payload",
    "state",
    "agentId",
    "deleteAfterRun",
    "isolation",
    "delivery",
}
_PAYLOAD_KEYS = {
    "systemEvent": {"kind", "text"},
    "agentTurn": {"kind", "message", "model", "thinking", "timeoutSeconds"},
}
_STATE_KEYS = ("nextRunAtMs", "lastRunAtMs", "lastStatus", "lastError", "lastDurationMs")


def plan_openclaw(plan: Plan, home: Path) -> None:
    """Fill ``plan`` from the OpenClaw folder ``plan.source``. Raises ``MigrateError``."""
    source = plan.source
    config_file = source / "openclaw.json"
    raw = read_source_config(config_file, source) if config_file.is_file() else None
    shared = source / SHARED_DB
    if raw is None and not shared.is_file():
        raise MigrateError("neither openclaw.json nor state/openclaw.sqlite is there: not an OpenClaw folder")
    workspace = _plan_workspace(plan, raw, home)
    if raw is not None:
        kept, left_out = importable(raw)
        if workspace is not None:
            kept.setdefault("agents", {}).setdefault("defaults", {})["workspace"] = str(workspace)
        plan.actions.insert(
            0,
            Action(
                "config",
                plan.config_path,
                f"config from openclaw.json ({len(left_out)} key(s) left out)",
                data=json_bytes(kept),
                config=True,
            ),
        )
        plan.notes.extend(f"config: left out {line}" for line in left_out)
    else:
        plan.note(
            "config: no openclaw.json, nothing imported"
            + (f"; set agents.defaults.workspace to {workspace}" if workspace is not None else "")
        )
    if shared.is_file():
        with open_db(shared, source) as db:
            _plan_cron(plan, db)
            _plan_devices(plan, db)
            _note_not_imported(plan, db, relative(shared, source))
    else:
        plan.note("cron jobs and device pairings: no state/openclaw.sqlite, nothing imported")
    agents = source / "agents"
    for agent_dir in sorted(agents.iterdir()) if agents.is_dir() else []:
        database = agent_dir / AGENT_DB
        if not database.is_file():
            continue
        if not is_agent_id(agent_dir.name):
            plan.note(f"sessions: agents/{agent_dir.name[:64]} is not an agent id we accept: left out")
            continue
        with open_db(database, source) as db:
            _plan_sessions(plan, agent_dir.name.lower(), db)
            _note_not_imported(plan, db, relative(database, source))


@contextmanager
def open_db(path: Path, source: Path) -> Iterator[sqlite3.Connection]:
    """``path`` opened read-only; ``MigrateError`` (naming it relative to ``source``) if it is not a database."""
    name = relative(path, source)
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise MigrateError(f"{name} cannot be opened ({_code(exc)})") from None
    try:
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise MigrateError(f"{name} is not a readable SQLite database ({_code(exc)})") from None
        yield db
    finally:
        db.close()


def _code(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", None) or type(exc).__name__


def _rows(
    plan: Plan, db: sqlite3.Connection, table: str, columns: str, tail: str = "", args: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """The rows of ``table`` (a constant of this module), or none with a note when its layout differs."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
        return []
    try:
        return db.execute(f"SELECT {columns} FROM {table} {tail}", args).fetchall()  # noqa: S608 (constants)
    except sqlite3.Error as exc:
        plan.note(f"{table}: unexpected layout ({_code(exc)}): nothing imported from it")
        return []


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


# --- cron ---------------------------------------------------------------------------------------------


def _plan_cron(plan: Plan, db: sqlite3.Connection) -> None:
    jobs = []
    for job_id, job_text, state_text, updated_at in _rows(
        plan, db, "cron_jobs", "job_id, job_json, state_json, updated_at", "ORDER BY sort_order, job_id"
    ):
        job = _loads(job_text)
        if not isinstance(job, dict):
            plan.note(f"cron: job {str(job_id)[:64]}: job_json is not a JSON object: left out")
            continue
        converted = convert_job(job, _loads(state_text), updated_at, plan)
        if converted is not None:
            jobs.append(converted)
    if not jobs:
        return
    try:
        loaded = parse_jobs(json.dumps({"version": 1, "jobs": jobs}), where="cron")
    except CronStoreError as exc:  # not expected: we built the store
        raise MigrateError(str(exc)) from None
    plan.notes.extend(f"cron: {problem}" for problem in loaded.problems)
    valid = [job for job in jobs if job["id"] in {item.id for item in loaded.jobs}]
    if valid:
        plan.add(
            Action(
                "cron",
                plan.state_dir / "cron" / "jobs.json",
                f"{len(valid)} cron job(s)",
                data=json_bytes({"version": 1, "jobs": valid}),
                merge=merge_jobs,
            )
        )


def convert_job(job: dict[str, Any], state: Any, updated_at: Any, plan: Plan) -> dict[str, Any] | None:
    """One OpenClaw job in the shape ours stores, or None (with a note) when ours cannot run it."""
    label = f"cron: job {str(job.get('name') or job.get('id'))[:64]!r}"
    if job.get("declarationKey"):
        plan.note(f"{label}: declared by OpenClaw itself ({str(job['declarationKey'])[:64]}): left out")
        return None
    payload: dict[str, Any] = job["payload"] if isinstance(job.get("payload"), dict) else {}
    kind = payload.get("kind")
    if kind not in _PAYLOAD_KEYS:
        plan.note(f"{label}: payload kind {str(kind)[:32]!r} does not run here: left out")
        return None
    dropped = sorted(set(job) - _JOB_KEYS) + [
        f"payload.{key}" for key in sorted(set(payload) - _PAYLOAD_KEYS[kind])
    ]
    converted = {key: value for key, value in job.items() if key in _JOB_KEYS - {"delivery", "state"}}
    converted["payload"] = {key: value for key, value in payload.items() if key in _PAYLOAD_KEYS[kind]}
    converted.setdefault(
        "updatedAtMs", updated_at if isinstance(updated_at, int) else job.get("createdAtMs", 0)
    )
    schedule = dict(job.get("schedule") or {})
    if schedule.get("kind") == "at" and "atMs" not in schedule and isinstance(schedule.get("at"), str):
        at_ms = _iso_ms(schedule.pop("at"))
        if at_ms is None:
            plan.note(f"{label}: schedule.at is not an ISO time: left out")
            return None
        schedule["atMs"] = at_ms
    converted["schedule"] = schedule
    delivery = job.get("delivery") if isinstance(job.get("delivery"), dict) else None
    if delivery and kind == "agentTurn":
        converted["payload"]["deliver"] = delivery.get("mode") == "announce"
        for ours, theirs in (("channel", "channel"), ("to", "to"), ("bestEffortDeliver", "bestEffort")):
            if delivery.get(theirs) is not None:
                converted["payload"][ours] = delivery[theirs]
        dropped += [
            f"delivery.{key}" for key in sorted(set(delivery) - {"mode", "channel", "to", "bestEffort"})
        ]
    state = (
        state if isinstance(state, dict) else job.get("state") if isinstance(job.get("state"), dict) else {}
    )
    converted["state"] = {key: state[key] for key in _STATE_KEYS if key in state}
    if dropped:
        plan.note(f"{label}: left out {', '.join(dropped)}")
    return converted


def _iso_ms(text: str) -> int | None:
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


# --- device pairings ----------------------------------------------------------------------------------

_DEVICE_COLUMNS = (
    "device_id, public_key, display_name, platform, device_family, client_id, client_mode, role, "
    "roles_json, scopes_json, approved_scopes_json, remote_ip, tokens_json, created_at_ms, "
    "approved_at_ms"
)


def _plan_devices(plan: Plan, db: sqlite3.Connection) -> None:
    paired: dict[str, Any] = {}
    for row in _rows(plan, db, "device_pairing_paired", _DEVICE_COLUMNS, "ORDER BY device_id"):
        (
            device_id,
            public_key,
            display_name,
            platform,
            family,
            client_id,
            client_mode,
            role,
            roles,
            scopes,
            approved,
            remote_ip,
            tokens,
            created,
            approved_at,
        ) = row
        if not (isinstance(device_id, str) and is_session_key(device_id) and isinstance(public_key, str)):
            plan.note("devices: a paired device without a usable id or public key: left out")
            continue
        scope_list = _loads(approved) if _loads(approved) is not None else _loads(scopes)
        record = {
            "deviceId": device_id,
            "publicKey": public_key,
            "displayName": display_name,
            "platform": platform,
            "deviceFamily": family,
            "clientId": client_id,
            "clientMode": client_mode,
            "role": role,
            "roles": _loads(roles),
            "scopes": scope_list,
            "remoteIp": remote_ip,
            "tokens": _loads(tokens) if isinstance(_loads(tokens), dict) else None,
            "createdAtMs": created,
            "approvedAtMs": approved_at,
        }
        paired[device_id] = {key: value for key, value in record.items() if value is not None}
    if paired:
        plan.add(
            Action(
                "devices",
                plan.state_dir / "devices" / "paired.json",
                f"{len(paired)} paired device(s)",
                data=json_bytes(paired),
                merge=merge_maps,
            )
        )


def _note_not_imported(plan: Plan, db: sqlite3.Connection, name: str) -> None:
    for table, what in NOT_IMPORTED.items():
        rows = _rows(plan, db, table, "count(*)")
        if rows and rows[0][0]:
            plan.note(f"{name}: {rows[0][0]} {what} ({table}): not imported")


# --- sessions and transcripts -------------------------------------------------------------------------


def _plan_sessions(plan: Plan, agent_id: str, db: sqlite3.Connection) -> None:
    sessions_dir = plan.state_dir / "agents" / agent_id / "sessions"
    entries: dict[str, Any] = {}
    for key, session_id, entry_text in _rows(
        plan, db, "session_nodes", "session_key, current_session_id, entry_json", "ORDER BY session_key"
    ):
        entry = _loads(entry_text)
        if not (
            isinstance(key, str)
            and is_session_key(key)
            and isinstance(session_id, str)
            and is_session_id(session_id)
            and isinstance(entry, dict)
        ):
            plan.note(f"sessions ({agent_id}): a session without a usable key, id or entry: left out")
            continue
        entry = {name: value for name, value in entry.items() if name not in ENTRY_DROPPED}
        entry["sessionId"] = session_id
        entry.pop(
            "sessionFile", None
        )  # a path of the OpenClaw folder; ours is <sessionId>.jsonl beside the store
        entries[key] = entry
    transcripts = 0
    for (session_id,) in _rows(plan, db, "session_windows", "session_id", "ORDER BY created_at, session_id"):
        if isinstance(session_id, str) and is_session_id(session_id):
            transcripts += _plan_transcript(
                plan, agent_id, db, session_id, sessions_dir / f"{session_id}.jsonl"
            )
    if entries:
        plan.add(
            Action(
                "sessions",
                sessions_dir / "sessions.json",
                f"{len(entries)} session(s) of agent {agent_id}, {transcripts} transcript(s)",
                data=encode_store(entries).encode("utf-8"),
                merge=merge_maps,
            )
        )


def _plan_transcript(plan: Plan, agent_id: str, db: sqlite3.Connection, session_id: str, target: Path) -> int:
    lines = []
    compressed = 0
    decompress = _zstd()
    for seq, text, packed in _rows(
        plan,
        db,
        "transcript_events",
        "seq, event_json, event_zstd",
        "WHERE session_id = ? ORDER BY seq",
        (session_id,),
    ):
        if text is None and isinstance(packed, bytes):
            if decompress is None:
                compressed += 1
                continue
            try:
                text = decompress(packed).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                text = None
        if not isinstance(text, str) or not isinstance(_loads(text), dict):
            plan.note(f"transcript {session_id} ({agent_id}): event {seq} is not a JSON object: left out")
            continue
        lines.append(json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")))
    if compressed:
        plan.note(
            f"transcript {session_id} ({agent_id}): {compressed} event(s) are zstd-compressed and the "
            "zstandard module is not installed: the transcript is left out (pip install zstandard)"
        )
        return 0
    if not lines:
        return 0
    plan.add(
        Action(
            "transcript",
            target,
            f"transcript of session {session_id} ({len(lines)} line(s))",
            data=("\n".join(lines) + "\n").encode("utf-8"),
        )
    )
    return 1


def _zstd() -> Any:
    try:
        import zstandard  # optional: OpenClaw compresses large transcript events
    except ImportError:
        return None
    return zstandard.ZstdDecompressor().decompress


# --- workspace ----------------------------------------------------------------------------------------


def _plan_workspace(plan: Plan, raw: dict[str, Any] | None, home: Path) -> Path | None:
    """Copy ``workspace/`` to ``~/clawd`` (our default) unless the config names a workspace of its own;
    returns the folder the imported config should name, or None."""
    defaults = ((raw or {}).get("agents") or {}).get("defaults") or {}
    named = defaults.get("workspace") if isinstance(defaults, dict) else None
    folder = plan.source / "workspace"
    if named:
        plan.note(f"workspace: the config names {str(named)[:200]}; it is used from there, nothing copied")
        return None
    others = sorted(p.name for p in plan.source.glob("workspace-*") if p.is_dir())
    if others:
        plan.note(
            f"workspace: per-agent folders {', '.join(others[:10])} are not copied (copy them and set "
            "agents.list[].workspace)"
        )
    if not folder.is_dir():
        return None
    target = home / "clawd"
    copied = copy_tree(plan, "workspace", folder, target, "workspace")
    return target if copied else None

"""Import from a January (Clawdbot/Moltbot) state folder: JSON and JSONL files
(config, devices, sessions, cron).

Our own stores keep the January formats, so this import checks each file and copies it into our state
dir: the config (``clawdbot.json`` or ``moltbot.json``, the keys we understand), each agent's
``sessions/sessions.json`` and transcripts, ``cron/jobs.json`` and its run logs, ``devices/paired.json``
and ``nodes/paired.json``, and ``credentials/`` (channel logins, pairing allowlists). Pending pairing
requests are not imported (they expire after five minutes). It matters only when our state dir is another
folder (``MOLTBOT_STATE_DIR``, a profile): by default ours *is* ``~/.clawdbot``.
"""

from __future__ import annotations

import json
from typing import Any

from ..cron.store import CronStoreError, parse_jobs
from ..store.ids import is_agent_id, is_session_id
from .config import importable, read_source_config
from .plan import (
    Action,
    MigrateError,
    Plan,
    copy_tree,
    json_bytes,
    merge_jobs,
    merge_maps,
    read_json_file,
    relative,
)

CONFIG_NAMES = ("clawdbot.json", "moltbot.json")


def plan_clawdbot(plan: Plan) -> None:
    """Fill ``plan`` from the January folder ``plan.source``. Raises ``MigrateError``."""
    source = plan.source
    config_file = next((source / name for name in CONFIG_NAMES if (source / name).is_file()), None)
    markers = [
        source / "agents",
        source / "cron",
        source / "devices",
        source / "nodes",
        source / "credentials",
    ]
    if config_file is None and not any(path.is_dir() for path in markers):
        raise MigrateError(
            "no clawdbot.json, moltbot.json, agents/, cron/ or devices/ there: not a Clawdbot folder"
        )
    if config_file is not None:
        kept, left_out = importable(read_source_config(config_file, source))
        plan.add(
            Action(
                "config",
                plan.config_path,
                f"config from {config_file.name} ({len(left_out)} key(s) left out)",
                data=json_bytes(kept),
                config=True,
            )
        )
        plan.notes.extend(f"config: left out {line}" for line in left_out)
    _plan_sessions(plan)
    _plan_cron(plan)
    for folder in ("devices", "nodes"):
        _plan_pairing(plan, folder)
    credentials = source / "credentials"
    if credentials.is_dir():
        copy_tree(plan, "credentials", credentials, plan.state_dir / "credentials", "credentials")
    plan.note(
        "workspace: January's default ~/clawd is ours too, and a workspace the config names is used from "
        "there: nothing copied"
    )
    if (source / "identity").is_dir():
        plan.note(
            "identity/: this install's own device identity and device tokens are not imported (ours has its own)"
        )


def _plan_sessions(plan: Plan) -> None:
    agents = plan.source / "agents"
    for agent_dir in sorted(agents.iterdir()) if agents.is_dir() else []:
        sessions = agent_dir / "sessions"
        if not sessions.is_dir():
            continue
        if not is_agent_id(agent_dir.name):
            plan.note(f"sessions: agents/{agent_dir.name[:64]} is not an agent id we accept: left out")
            continue
        target = plan.state_dir / "agents" / agent_dir.name / "sessions"
        transcripts = 0
        for path in sorted(sessions.glob("*.jsonl")):
            if is_session_id(path.stem) and path.is_file() and not path.is_symlink():
                plan.add(Action("transcript", target / path.name, f"transcript {path.stem}", copy_from=path))
                transcripts += 1
            else:
                plan.note(
                    f"sessions: {relative(path, plan.source)[:200]} is not a transcript name we accept: left out"
                )
        store = sessions / "sessions.json"
        if store.is_file():
            entries = read_json_file(store, plan.source, "session store")
            if not isinstance(entries, dict):
                raise MigrateError(f"{relative(store, plan.source)} (session store) is not a JSON object")
            plan.add(
                Action(
                    "sessions",
                    target / "sessions.json",
                    f"{len(entries)} session(s) of agent {agent_dir.name}, {transcripts} transcript(s)",
                    data=json_bytes(entries),
                    merge=merge_maps,
                )
            )


def _plan_cron(plan: Plan) -> None:
    store = plan.source / "cron" / "jobs.json"
    if not store.is_file():
        return
    data = read_json_file(store, plan.source, "cron store")
    try:
        loaded = parse_jobs(json.dumps(data), where="cron/jobs.json")
    except CronStoreError as exc:
        raise MigrateError(str(exc)) from None
    plan.notes.extend(f"cron: {problem}" for problem in loaded.problems)
    jobs: list[Any] = data.get("jobs") or []
    plan.add(
        Action(
            "cron",
            plan.state_dir / "cron" / "jobs.json",
            f"{len(jobs)} cron job(s) ({len(loaded.problems)} we would keep but not schedule)",
            data=json_bytes({**data, "version": data.get("version", 1), "jobs": jobs}),
            merge=merge_jobs,
        )
    )
    runs = plan.source / "cron" / "runs"
    for path in sorted(runs.glob("*.jsonl")) if runs.is_dir() else []:
        if path.is_file() and not path.is_symlink() and is_session_id(path.stem):
            plan.add(
                Action(
                    "cron",
                    plan.state_dir / "cron" / "runs" / path.name,
                    f"run log of job {path.stem}",
                    copy_from=path,
                )
            )


def _plan_pairing(plan: Plan, folder: str) -> None:
    paired = plan.source / folder / "paired.json"
    if paired.is_file():
        records = read_json_file(paired, plan.source, "pairings")
        if not isinstance(records, dict):
            raise MigrateError(f"{folder}/paired.json (pairings) is not a JSON object")
        records = {key: value for key, value in records.items() if isinstance(value, dict)}
        what = "paired device(s)" if folder == "devices" else "paired node(s)"
        plan.add(
            Action(
                folder,
                plan.state_dir / folder / "paired.json",
                f"{len(records)} {what}",
                data=json_bytes(records),
                merge=merge_maps,
            )
        )
    pending = plan.source / folder / "pending.json"
    if pending.is_file():
        plan.note(f"{folder}/pending.json: pending requests are not imported (they expire after 5 minutes)")

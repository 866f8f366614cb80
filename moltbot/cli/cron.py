"""``moltbot cron status|list|add|edit|rm|enable|disable|runs|run``: the ``cron.*`` methods from a shell.

Flags follow the original's ``cron`` CLI. Schedules: ``--at`` (ISO time, or a duration from now
such as ``20m``), ``--every`` (``10m``, ``1h``, ``1d``), ``--cron`` (expression) with ``--tz``.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import click

from ..protocol import parse_absolute_ms
from .rpc import Session
from .status import connection_options, run_client_command

_DURATION = re.compile(r"^\+?\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str) -> int | None:
    """``"10m"`` → 600000; ``None`` if not a duration with a unit."""
    match = _DURATION.match(text.strip())
    if not match:
        return None
    value = int(float(match.group(1)) * _UNIT_MS[match.group(2).lower()])
    return value if value > 0 else None


def parse_at_ms(text: str, now_ms: int | None = None) -> int | None:
    """An ISO time, or a duration from now (``20m``, ``+2h``)."""
    duration = parse_duration_ms(text)
    if duration is not None:
        return (now_ms if now_ms is not None else int(time.time() * 1000)) + duration
    return parse_absolute_ms(text)


def schedule_from(at: str | None, every: str | None, cron: str | None, tz: str | None, *,
                  required: bool) -> dict[str, Any] | None:
    chosen = [option for option in (at, every, cron) if option]
    if len(chosen) > 1 or (required and not chosen):
        raise click.UsageError("Choose exactly one schedule: --at, --every, or --cron" if required
                               else "Choose at most one schedule change")
    if at:
        at_ms = parse_at_ms(at)
        if at_ms is None:
            raise click.UsageError("Invalid --at; use an ISO time or a duration like 20m")
        return {"kind": "at", "atMs": at_ms}
    if every:
        every_ms = parse_duration_ms(every)
        if every_ms is None:
            raise click.UsageError("Invalid --every; use e.g. 10m, 1h, 1d")
        return {"kind": "every", "everyMs": every_ms}
    if cron:
        return {"kind": "cron", "expr": cron, **({"tz": tz.strip()} if tz and tz.strip() else {})}
    return None


def add_params(options: dict[str, Any]) -> dict[str, Any]:
    """``cron.add`` params from the ``add`` command's options."""
    schedule = schedule_from(options["at"], options["every"], options["cron"], options["tz"], required=True)
    session = options["session"]
    system_event, message = options["system_event"], options["message"]
    if bool(system_event) == bool(message):
        raise click.UsageError("Choose exactly one payload: --system-event or --message")
    if session == "main" and message:
        raise click.UsageError("Main jobs require --system-event (systemEvent); use --session isolated.")
    if session == "isolated" and system_event:
        raise click.UsageError("Isolated jobs require --message (agentTurn).")
    if system_event:
        payload: dict[str, Any] = {"kind": "systemEvent", "text": system_event}
    else:
        payload = _drop_none({"kind": "agentTurn", "message": message, "model": options["model"],
                              "thinking": options["thinking"], "timeoutSeconds": options["timeout_seconds"],
                              "deliver": True if options["deliver"] else None, "channel": options["channel"],
                              "to": options["to"], "bestEffortDeliver": True if options["best_effort_deliver"] else None})
    params = _drop_none({
        "name": options["name"], "description": options["description"], "enabled": not options["disabled"],
        "deleteAfterRun": True if options["delete_after_run"] else None, "agentId": options["agent"],
        "schedule": schedule, "sessionTarget": session, "wakeMode": options["wake"], "payload": payload,
        "catchUp": options["catch_up"],
    })
    isolation = _drop_none({"postToMainPrefix": options["post_prefix"], "postToMainMode": options["post_mode"],
                            "postToMainMaxChars": options["post_max_chars"]})
    if session == "isolated" and isolation:
        params["isolation"] = isolation
    return params


def edit_patch(options: dict[str, Any]) -> dict[str, Any]:
    """The ``cron.update`` patch from the ``edit`` command's options (only what was given)."""
    if options["enable"] and options["disable"]:
        raise click.UsageError("Choose --enable or --disable, not both")
    if options["agent"] and options["clear_agent"]:
        raise click.UsageError("Use --agent or --clear-agent, not both")
    if options["system_event"] is not None and options["message"] is not None:
        raise click.UsageError("Choose at most one payload change")
    patch = _drop_none({
        "name": options["name"], "description": options["description"], "sessionTarget": options["session"],
        "wakeMode": options["wake"], "agentId": options["agent"], "deleteAfterRun": options["delete_after_run"],
        "catchUp": options["catch_up"],
        "enabled": True if options["enable"] else False if options["disable"] else None,
        "schedule": schedule_from(options["at"], options["every"], options["cron"], options["tz"], required=False),
    })
    if options["clear_agent"]:
        patch["agentId"] = None
    turn = _drop_none({"message": options["message"], "model": options["model"], "thinking": options["thinking"],
                       "timeoutSeconds": options["timeout_seconds"], "deliver": options["deliver"],
                       "channel": options["channel"], "to": options["to"],
                       "bestEffortDeliver": options["best_effort_deliver"]})
    if options["system_event"] is not None:
        if turn:
            raise click.UsageError("Choose at most one payload change")
        patch["payload"] = {"kind": "systemEvent", "text": options["system_event"]}
    elif turn:
        patch["payload"] = {"kind": "agentTurn", **turn}
    if options["post_prefix"] is not None:
        patch["isolation"] = {"postToMainPrefix": options["post_prefix"]}
    return patch


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def format_duration_ms(ms: Any) -> str:
    """``3600000`` → ``1h``, ``5400000`` → ``90m``: the largest unit that divides it, as ``--every`` takes."""
    if not isinstance(ms, int) or ms <= 0:
        return f"{ms} ms"
    for unit in ("d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms} ms"


def _describe(schedule: dict[str, Any]) -> str:
    if schedule.get("kind") == "at":
        return f"at {_when(schedule.get('atMs'))}"
    if schedule.get("kind") == "every":
        return f"every {format_duration_ms(schedule.get('everyMs'))}"
    return f"cron {schedule.get('expr')}" + (f" ({schedule['tz']})" if schedule.get("tz") else "")


def render_job(job: dict[str, Any]) -> str:
    state = job.get("state") or {}
    flag = "" if job.get("enabled", True) else " [disabled]"
    return (f"{job.get('id')}  {job.get('name')}{flag}\n    {_describe(job.get('schedule') or {})} → "
            f"{job.get('sessionTarget')}; next {_when(state.get('nextRunAtMs'))}; "
            f"last {state.get('lastStatus', '-')} {_when(state.get('lastRunAtMs'))}")


def render_jobs(payload: dict[str, Any]) -> str:
    jobs = payload.get("jobs") or []
    if not jobs:
        return "No cron jobs."
    return "\n".join(render_job(job) for job in jobs)


def render_status(payload: dict[str, Any]) -> str:
    return (f"Scheduler: {'enabled' if payload.get('enabled') else 'disabled'}; {payload.get('jobs', 0)} job(s); "
            f"next wake {_when(payload.get('nextWakeAtMs'))}\nStore: {payload.get('storePath', '-')}")


def _done(verb: str, job_id: str) -> Any:
    """A renderer for the methods that answer a job (or ``{ok, removed}``): one line saying what happened."""
    def render(payload: Any) -> str:
        if isinstance(payload, dict) and payload.get("removed") is False:
            return f"No job {job_id}: nothing removed."
        if isinstance(payload, dict) and payload.get("id"):
            return f"{verb} job:\n" + render_job(payload)
        return f"{verb} job {job_id}."
    return render


def render_runs(payload: dict[str, Any]) -> str:
    entries = payload.get("entries") or []
    if not entries:
        return "No runs recorded."
    return "\n".join(f"{_when(entry.get('runAtMs') or entry.get('ts'))}  {entry.get('status', '?'):<7} "
                     f"{entry.get('durationMs', '-')} ms  {entry.get('error') or entry.get('summary') or ''}"[:200]
                     for entry in entries)


@click.group("cron")
def cron_group() -> None:
    """Scheduled jobs on the running gateway."""


@cron_group.command("status")
@connection_options
def status_command(**options) -> None:
    """Show the scheduler's status (enabled, store, job count, next wake)."""
    run_client_command("cron.status", {}, options, render_status)


@cron_group.command("list")
@click.option("--all", "include_disabled", is_flag=True, help="Include disabled jobs.")
@connection_options
def list_command(include_disabled: bool, **options) -> None:
    """List jobs, soonest first."""
    run_client_command("cron.list", {"includeDisabled": include_disabled}, options, render_jobs)


def _payload_options(fn):
    for option in reversed([
        click.option("--description", help="Description."),
        click.option("--agent", help="Agent id for this job."),
        click.option("--at", help="Run once at an ISO time, or after a duration (20m)."),
        click.option("--every", help="Run every duration (10m, 1h, 1d)."),
        click.option("--cron", help="Cron expression (5 fields, or 6 with seconds first)."),
        click.option("--tz", help="IANA time zone for --cron (default: the gateway host's)."),
        click.option("--system-event", help="System event text (main session jobs)."),
        click.option("--message", help="Agent message (isolated jobs)."),
        click.option("--thinking", help="Thinking level for agent jobs."),
        click.option("--model", help="Model override for agent jobs."),
        click.option("--timeout-seconds", type=click.IntRange(1), help="Timeout for agent jobs."),
        click.option("--channel", help="Delivery channel (an id, or last)."),
        click.option("--to", help="Delivery target (chat id, phone number …)."),
        click.option("--post-prefix", help="Prefix of the line posted to the main session."),
        click.option("--catch-up/--no-catch-up", default=None,
                     help="Run once for runs missed while the gateway was down (default), or skip them."),
    ]):
        fn = option(fn)
    return fn


@cron_group.command("add")
@click.option("--name", required=True, help="Job name.")
@click.option("--disabled", is_flag=True, help="Create the job disabled.")
@click.option("--delete-after-run", is_flag=True, help="Delete a one-shot job after it succeeds.")
@click.option("--session", type=click.Choice(["main", "isolated"]), default="main", show_default=True)
@click.option("--wake", type=click.Choice(["now", "next-heartbeat"]), default="next-heartbeat", show_default=True)
@_payload_options
@click.option("--deliver", is_flag=True, help="Deliver the agent's output.")
@click.option("--best-effort-deliver", is_flag=True, help="Do not fail the job if delivery fails.")
@click.option("--post-mode", type=click.Choice(["summary", "full"]), help="What isolated jobs post to main.")
@click.option("--post-max-chars", type=click.IntRange(0), help="Max characters with --post-mode full.")
@connection_options
def add_command(**options) -> None:
    """Add a job."""
    params = add_params(options)
    run_client_command("cron.add", params, options, _done("Added", ""))


@cron_group.command("edit")
@click.argument("job_id")
@click.option("--name", help="New name.")
@click.option("--enable", is_flag=True, help="Enable the job.")
@click.option("--disable", is_flag=True, help="Disable the job.")
@click.option("--delete-after-run/--keep-after-run", default=None, help="Delete a one-shot job after success.")
@click.option("--session", type=click.Choice(["main", "isolated"]))
@click.option("--wake", type=click.Choice(["now", "next-heartbeat"]))
@click.option("--clear-agent", is_flag=True, help="Use the default agent.")
@_payload_options
@click.option("--deliver/--no-deliver", default=None, help="Deliver the agent's output (or not).")
@click.option("--best-effort-deliver/--no-best-effort-deliver", default=None)
@connection_options
def edit_command(job_id: str, **options) -> None:
    """Change fields of a job."""
    run_client_command("cron.update", {"id": job_id, "patch": edit_patch(options)}, options,
                       _done("Updated", job_id))


@cron_group.command("rm")
@click.argument("job_id")
@connection_options
def remove_command(job_id: str, **options) -> None:
    """Remove a job."""
    run_client_command("cron.remove", {"id": job_id}, options, _done("Removed", job_id))


@cron_group.command("enable")
@click.argument("job_id")
@connection_options
def enable_command(job_id: str, **options) -> None:
    """Enable a job."""
    run_client_command("cron.update", {"id": job_id, "patch": {"enabled": True}}, options, _done("Enabled", job_id))


@cron_group.command("disable")
@click.argument("job_id")
@connection_options
def disable_command(job_id: str, **options) -> None:
    """Disable a job."""
    run_client_command("cron.update", {"id": job_id, "patch": {"enabled": False}}, options,
                       _done("Disabled", job_id))


@cron_group.command("runs")
@click.option("--id", "job_id", required=True, help="Job id.")
@click.option("--limit", type=click.IntRange(1, 5000), default=50, show_default=True)
@connection_options
def runs_command(job_id: str, limit: int, **options) -> None:
    """Show a job's run history (newest last)."""
    run_client_command("cron.runs", {"id": job_id, "limit": limit}, options, render_runs)


@cron_group.command("run")
@click.argument("job_id")
@click.option("--due", is_flag=True, help="Only if the job is due now (cron.run mode \"due\"); else it runs at once.")
@click.option("--force", is_flag=True, hidden=True, help="Accepted for the original's CLI: running now is the default.")
@connection_options
def run_command(job_id: str, due: bool, force: bool, **options) -> None:
    """Run a job now (even if disabled or not due) and wait for it to finish.

    The gateway's cron.run has two modes: "force" runs the job at once, "due" only if its time has come
    (what the scheduler itself does); --due asks for the latter. Exits 1 if the job did not run.
    """
    if due and force:
        raise click.UsageError("--due and --force contradict each other: give one")
    session = Session.from_options(options)
    payload = session.call("cron.run", {"id": job_id, "mode": "due" if due else "force"})
    if options.get("as_json"):
        session.out.json(payload)
    elif isinstance(payload, dict) and payload.get("ran") is False:
        reason = payload.get("reason") or "not run"
        if due and reason == "not-due":
            session.out.line(f"Job {job_id} is not due: not run (drop --due to run it now).")
            return
        session.out.error(f"job {job_id} did not run: {reason}")
        raise SystemExit(1)
    else:
        session.out.line(f"Ran job {job_id}.")

"""The agent's ``cron`` tool: list, add, remove and run the jobs of the agent whose turn calls it.

It goes through the cron service's own interface (``CronService.add/remove/run``, the ``cron.*`` methods'
path), so a job added by the model is validated, stored and scheduled exactly as one from ``cron.add``
(``job`` takes the ``cron.add`` params, with the same shorthands, ``normalize_cron_add``). Every job it
touches belongs to the calling agent: ``add`` sets ``agentId`` to it, ``list`` shows only its jobs, and
another agent's job id is answered as unknown. A turn started by someone other than the owner (a
stranger's channel message, ``Sender.owner`` false) may list but not change jobs: a scheduled job is a
lasting effect of untrusted text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..agents.tools import ToolError
from ..protocol import CronAddParams, ProtocolError, normalize_cron_add, structure, unstructure

if TYPE_CHECKING:
    from ..agents.runtime import Run
    from .runtime import Runtime

ACTIONS = ("list", "add", "remove", "run")
CRON_SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "job": {"type": "object", "description": "add: the job, as cron.add takes it: name, schedule "
                "({kind: at, atMs} | {kind: every, everyMs} | {kind: cron, expr, tz}), payload ({kind: agentTurn, "
                "message} | {kind: systemEvent, text}), optional sessionTarget, enabled, description"},
        "jobId": {"type": "string", "description": "remove/run: the job's id (from list)"},
        "mode": {"type": "string", "enum": ["due", "force"], "description": "run: force runs it now even if "
                 "not due (default force)"},
        "includeDisabled": {"type": "boolean"},
    },
    "required": ["action"],
}


def register_cron_tool(runtime: Runtime) -> None:
    def agent_of(run: Run | None) -> str:
        return run.agent_id if run is not None else runtime.agents.default_agent_id()

    def own_job(job_id: Any, agent: str):
        if not isinstance(job_id, str) or not job_id:
            raise ToolError("jobId must be a job id from list")
        job = runtime.cron.jobs.get(job_id)
        if job is None or (job.agent_id or runtime.agents.default_agent_id()) != agent:
            raise ToolError(f"unknown job id: {job_id}")
        return job

    async def cron_tool(arguments: dict[str, Any], run: Run | None) -> Any:
        action, agent = arguments.get("action"), agent_of(run)
        if action not in ACTIONS:
            raise ToolError(f"unknown action: {action!r} (use {', '.join(ACTIONS)})")
        if action == "list":
            jobs = [job for job in runtime.cron.list_jobs(include_disabled=bool(arguments.get("includeDisabled")))
                    if (job.agent_id or runtime.agents.default_agent_id()) == agent]
            return {"jobs": [unstructure(job) for job in jobs]}
        if run is not None and run.sender is not None and not run.sender.owner:
            raise ToolError("only the owner's messages may change scheduled jobs")
        try:
            if action == "add":
                job = arguments.get("job")
                if not isinstance(job, dict):
                    raise ToolError("job must be an object (the cron.add params)")
                params = structure(normalize_cron_add({**job, "agentId": agent}), CronAddParams, what="job")
                return unstructure(await runtime.cron.add(params))
            job = own_job(arguments.get("jobId"), agent)
            if action == "remove":
                return {"ok": True, "removed": await runtime.cron.remove(job.id)}
            return unstructure(await runtime.cron.run(job.id, force=arguments.get("mode", "force") == "force"))
        except ProtocolError as exc:  # the cron service's refusal (invalid job, store not writable …)
            raise ToolError(exc.message) from None

    runtime.tools.register("cron", "List, add, remove or run (now) this agent's scheduled jobs: reminders "
                           "(systemEvent into the main session) and agent turns (agentTurn, isolated).",
                           CRON_SCHEMA, cron_tool)

"""The cron service inside a Runtime: where its store lives, and what a job's run does in the gateway.

A main-session job queues its text as a system event (``ProcessState.system_event``) and, with
``wakeMode: "now"``, asks the heartbeat for a beat at once. An isolated job runs an agent turn in the
session ``agent:<agentId>:cron:<jobId>`` on the ``cron`` lane (``cron.maxConcurrentRuns``); a turn the
Runtime refuses (it is restarting) is handed back as not started, so the next Runtime runs it; a job's
``model`` overrides the agent's for that turn. Its output is delivered through the ChannelManager
(chunked by the account's ``send``) to ``channel``/``to``; ``channel`` unset or ``"last"`` means where
the agent's main session last talked (``lastChannel``/``lastTo``/``lastAccountId``), and a ``to`` without
a channel reuses the last channel. Why a delivery failed goes to the run log. ``cron`` events go to every
client (dropped for slow ones, as in the original).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..agents.sessions import normalize_agent_id
from ..agents.thinking import normalize_level
from ..channels.base import DeliveryError
from ..channels.manager import SUPERVISED
from ..config.model import Config
from ..cron.host import TurnRefused, TurnRequest, TurnResult
from ..cron.jobs import DeliveryPlan, delivery_plan
from ..cron.service import CronService
from ..cron.store import FileCronStore
from ..protocol import CronAgentTurn, CronEvent, CronJob, DeliveryStatus, ProtocolError

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("moltbot.cron")


def cron_store_path(config: Config) -> Path:
    """``cron.store``, else ``<stateDir>/cron/jobs.json``."""
    if config.cron.store:
        return Path(config.cron.store).expanduser()
    return (config.state_dir or Path.home() / ".clawdbot") / "cron" / "jobs.json"


def cron_enabled(config: Config, env: Mapping[str, str]) -> bool:
    return config.cron.enabled and env.get("CLAWDBOT_SKIP_CRON") != "1"


class RuntimeCronHost:
    """``CronHost`` for a Runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def system_event(self, text: str, agent_id: str | None) -> None:
        self._runtime.state.system_event(text)

    def wake(self) -> None:
        self._runtime.heartbeat.request_now()

    async def agent_turn(self, request: TurnRequest) -> TurnResult:
        agents, job = self._runtime.agents, request.job
        payload = job.payload
        assert isinstance(payload, CronAgentTurn)
        agent_id = normalize_agent_id(job.agent_id) if job.agent_id else agents.default_agent_id()
        if agent_id not in agents.agent_ids():  # an agent removed from the config: the default runs it
            agent_id = agents.default_agent_id()
        try:
            run, _ = agents.submit(run_id=f"cron-{job.id}-{job.state.running_at_ms}",
                                   session_key=f"agent:{agent_id}:cron:{job.id}", message=request.message,
                                   dedupe="cron", agent_id=agent_id, lane="cron", model=payload.model,
                                   thinking=normalize_level(payload.thinking),
                                   timeout=float(payload.timeout_seconds) if payload.timeout_seconds else None)
        except ProtocolError as exc:
            raise TurnRefused(exc.message) from None
        try:
            await run.done.wait()
        finally:
            request.started = run.started_at is not None
        if not request.started:
            raise TurnRefused(run.error or run.status)
        if run.status == "ok":
            return TurnResult(ok=True, text=run.text)
        return TurnResult(ok=False, text=run.text, error=run.error or f"run {run.status}")

    async def deliver(self, job: CronJob, text: str) -> tuple[DeliveryStatus, str | None]:
        try:
            channel, to, account_id = await self._target(job, delivery_plan(job))
            await self._runtime.channels.deliver(channel, account_id, to, text, kind="cron",
                                                 key=f"cron:{job.id}:{job.state.running_at_ms}")
        except DeliveryError as exc:
            log.warning("cron: job %s: output not delivered: %s", job.id, exc)
            return "not-delivered", str(exc)
        return "delivered", None

    async def _target(self, job: CronJob, plan: DeliveryPlan) -> tuple[str, str, str | None]:
        """(channel, to, account id) for a job's delivery; raises ``DeliveryError`` saying what is missing."""
        agents = self._runtime.agents
        agent_id = normalize_agent_id(job.agent_id) if job.agent_id else agents.default_agent_id()
        if agent_id not in agents.agent_ids():  # as for its turn: the default agent stands in
            agent_id = agents.default_agent_id()
        main_key = agents.main_key(agent_id)
        store = agents.store(agent_id)
        await store.load()
        last = store.entries.get(main_key) or {}
        last_channel = last.get("lastChannel") if last.get("lastChannel") in SUPERVISED else None
        requested = (plan.channel or "last").strip().lower()
        to = (plan.to or "").strip() or None
        if requested == "last":
            if last_channel is None:
                raise DeliveryError(f'channel "last": session {main_key} has not talked on a channel yet '
                                    "(set payload.channel and payload.to)")
            channel = last_channel
        elif requested in SUPERVISED:
            channel = requested
        else:
            raise DeliveryError(f"unsupported channel: {plan.channel}")
        if to is not None:
            return channel, to, plan.account_id or (last.get("lastAccountId") if channel == last_channel else None)
        if channel == last_channel and last.get("lastTo"):
            return channel, last["lastTo"], last.get("lastAccountId")
        raise DeliveryError(f"no delivery target: payload.to is not set and session {main_key} has no last "
                            f"{channel} recipient")

    def emit(self, event: CronEvent) -> None:
        self._runtime.broadcaster.broadcast("cron", event, droppable=True)


def build_cron_service(runtime: Runtime) -> CronService:
    service = CronService(FileCronStore(cron_store_path(runtime.config)), RuntimeCronHost(runtime),
                          enabled=lambda: cron_enabled(runtime.config, runtime.env))

    def reload(_action: str = "") -> None:
        path = cron_store_path(runtime.config)
        service.reload(None if str(path) == service.store.path else FileCronStore(path))

    runtime.hot_actions["reload-cron"] = reload
    return service

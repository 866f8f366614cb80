"""Exec approvals in the gateway: the approvals file behind a lock, and the pending requests.

Theory of operation. ``ApprovalBroker.request`` registers a pending approval, broadcasts
``exec.approval.requested`` to clients holding ``operator.approvals`` (or admin), calls the
``on_request`` hooks (the exec tool uses one to tell the chat a run waits, with the ``/approve`` line),
and waits for ``resolve`` or the deadline; a timeout answers ``None`` and the caller applies the policy's
``askFallback``. ``resolve`` (from ``exec.approval.resolve``, the CLI, or ``/approve`` in a chat) sets the
decision once and broadcasts ``exec.approval.resolved``. Pending requests live only in memory: a
restart answers every waiter with a timeout (its run is cancelled anyway). The file is read and written
in a worker thread under one lock, so ``allow-always`` and ``exec.approvals.set`` cannot lose each
other's changes.

A node's ``system.run`` (``node.invoke``, whoever calls it) passes the same approvals before it is
forwarded (``authorize_node_run``): the policy of the agent the params name (``agentId``, else the default
agent) judges ``argv[0]`` as the node will run it; allowlisted or ``security: full`` goes on, ``deny``
is refused with ``SYSTEM_RUN_DENIED``, a miss asks the approvers (``host: "node"``) and waits, and a timeout
applies ``askFallback``. An approved run reaches the node with ``approved: true`` and the
``approvalDecision``, as the original sends them, added by the registry after it strips the caller's own
approval fields (``nodes/registry.py``), so no caller approves itself. A node that keeps its own approvals
file still applies it.
"""

from __future__ import annotations

import logging
import shlex
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._util import wall_ms
from ..agents import approvals as file_rules
from ..agents.sessions import normalize_agent_id
from ..protocol import (
    INVALID_REQUEST,
    ExecApprovalRequest,
    ExecApprovalRequestedEvent,
    ExecApprovalResolvedEvent,
    RemoteProtocolError,
)

if TYPE_CHECKING:
    from ..agents.approvals import Policy
    from ..agents.runtime import Run
    from ..agents.tools.exec import Approve, FileAccess
    from .runtime import Runtime

log = logging.getLogger("moltbot.approvals")

MAX_PENDING = 256
DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 24 * 3600 * 1000
MAX_NODE_ARGV = 1024
MAX_NODE_COMMAND = 64 * 1024


@attrs.define(eq=False)
class PendingApproval:
    id: str
    request: ExecApprovalRequest
    created_at_ms: int
    expires_at_ms: int
    decided: trio.Event = attrs.field(factory=trio.Event)
    decision: str | None = None
    resolved_by: str | None = None

    def event(self) -> ExecApprovalRequestedEvent:
        return ExecApprovalRequestedEvent(id=self.id, request=self.request, created_at_ms=self.created_at_ms,
                                          expires_at_ms=self.expires_at_ms)


class ApprovalError(Exception):
    """A request or resolution that cannot be accepted (duplicate id, unknown id, too many pending)."""


class ApprovalBroker:
    def __init__(self, broadcast: Callable[[str, Any], object], state_dir: Path | None) -> None:
        self._broadcast = broadcast
        self.path = file_rules.approvals_path(state_dir or Path.home() / ".clawdbot")
        self.pending: dict[str, PendingApproval] = {}
        self.on_request: list[Callable[[PendingApproval], None]] = []
        self.file_lock = trio.Lock()

    # --- pending requests ------------------------------------------------------------------------

    def open(self, request: ExecApprovalRequest, *, id: str | None = None, timeout_ms: int | None = None,
             ) -> PendingApproval:
        """Register a request and tell the approvers (``wait`` then waits for it)."""
        approval_id = id or uuid.uuid4().hex[:8]
        if approval_id in self.pending:
            raise ApprovalError("approval id already pending")
        if len(self.pending) >= MAX_PENDING:
            raise ApprovalError(f"too many pending approvals (limit {MAX_PENDING})")
        now = wall_ms()
        timeout = min(timeout_ms or DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)
        pending = PendingApproval(approval_id, request, now, now + timeout)
        self.pending[approval_id] = pending
        log.info("exec approval %s requested: agent=%s command=%.200s", approval_id, request.agent_id,
                 request.command)
        self._broadcast("exec.approval.requested", pending.event())
        for hook in list(self.on_request):
            try:
                hook(pending)
            except Exception:  # a notifier's failure must not fail the request
                log.exception("exec approval %s: a request hook failed", approval_id)
        return pending

    async def wait(self, pending: PendingApproval) -> str | None:
        """The decision, or ``None`` at the deadline. The request is forgotten either way."""
        try:
            with trio.move_on_after(max(0.0, (pending.expires_at_ms - wall_ms()) / 1000)):
                await pending.decided.wait()
        finally:
            if self.pending.get(pending.id) is pending:
                del self.pending[pending.id]
        if pending.decision is None:
            log.info("exec approval %s timed out", pending.id)
        return pending.decision

    async def request(self, request: ExecApprovalRequest, *, id: str | None = None,
                      timeout_ms: int | None = None) -> tuple[PendingApproval, str | None]:
        pending = self.open(request, id=id, timeout_ms=timeout_ms)
        return pending, await self.wait(pending)

    def resolve(self, approval_id: str, decision: str, resolved_by: str | None = None) -> PendingApproval:
        pending = self.pending.get(approval_id)
        if pending is None or pending.decided.is_set():
            raise ApprovalError("unknown approval id")
        if decision not in file_rules.DECISIONS:
            raise ApprovalError(f"decision must be one of {', '.join(file_rules.DECISIONS)}")
        pending.decision, pending.resolved_by = decision, resolved_by
        pending.decided.set()
        log.info("exec approval %s resolved: %s by %s", approval_id, decision, resolved_by or "unknown")
        self._broadcast("exec.approval.resolved", ExecApprovalResolvedEvent(
            id=approval_id, decision=decision, ts=wall_ms(), resolved_by=resolved_by))  # type: ignore[arg-type]
        return pending

    def list(self) -> list[ExecApprovalRequestedEvent]:
        return [p.event() for p in self.pending.values() if not p.decided.is_set()]

    # --- the approvals file ----------------------------------------------------------------------

    async def read(self) -> tuple[str | None, dict[str, Any]]:
        return await trio.to_thread.run_sync(file_rules.read_file, self.path)

    async def update(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read, change, write (atomically, 0600) under the lock; returns the file written."""
        async with self.file_lock:
            _, file = await self.read()
            file = change(file)
            await trio.to_thread.run_sync(file_rules.write_file, self.path, file)
            return file


def approval_notice(pending: PendingApproval) -> str:
    request = pending.request
    return (f"Approval needed to run:\n{request.command[:500]}\n(in {request.cwd})\n"
            f"Reply /approve {pending.id} (or /approve {pending.id} always) or /deny {pending.id}. "
            f"It expires in {max(0, (pending.expires_at_ms - wall_ms()) // 1000)} s.")


def wire_exec_approvals(runtime: Runtime) -> tuple[Approve, FileAccess]:
    """The exec tool's ``approve`` and file access on ``runtime``'s broker, and the ``/approve`` and ``/deny``
    chat commands. A run that came from a channel is told, in that chat, what waits and how to answer."""
    broker = runtime.approvals

    async def approve(run: Run | None, agent_id: str, command: str, cwd: str, resolved: str | None,
                      policy: Policy) -> str | None:
        request = ExecApprovalRequest(command=command, cwd=cwd, host="gateway", security=policy.security,
                                      ask=policy.ask, agent_id=agent_id, resolved_path=resolved,
                                      session_key=run.session_key if run else None)
        pending = broker.open(request, timeout_ms=runtime.config.tools.exec.approval_timeout_ms)
        route = (run.route or {}) if run is not None else {}
        if route.get("lastChannel") not in (None, "webchat") and route.get("lastTo"):
            runtime.agents.spawn(partial(_notify, runtime, route, pending))
        return await broker.wait(pending)

    async def approve_command(run: Run, args: list[str]) -> str:
        return _answer(run, args, "allow-always" if args[1:2] == ["always"] else "allow-once")

    async def deny_command(run: Run, args: list[str]) -> str:
        return _answer(run, args, "deny")

    def _answer(run: Run, args: list[str], decision: str) -> str:
        if run.sender is not None and not run.sender.owner:
            return "Only the owner can answer approval requests."
        if not args:
            waiting = ", ".join(p.id for p in broker.pending.values()) or "none"
            return f"Usage: /approve <id> [always] or /deny <id>. Waiting: {waiting}."
        who = f"{run.sender.channel}:{run.sender.sender_id}" if run.sender else "chat"
        try:
            broker.resolve(args[0], decision, who)
        except ApprovalError as exc:
            return f"Cannot answer {args[0]}: {exc}."
        return f"{'Denied' if decision == 'deny' else 'Approved'} {args[0]} ({decision})."

    runtime.agents.commands.register("approve", approve_command, "approve a waiting exec request")
    runtime.agents.commands.register("deny", deny_command, "deny a waiting exec request")
    return approve, (broker.read, broker.update)


async def _notify(runtime: Runtime, route: dict[str, Any], pending: PendingApproval) -> None:
    try:
        await runtime.channels.send(f"approval-{pending.id}", route["lastChannel"], route.get("lastAccountId"),
                                    route["lastTo"], approval_notice(pending))
    except Exception as exc:  # the request stands; other approvers can still answer it
        log.warning("exec approval %s: the chat could not be told: %s", pending.id, exc)


def _node_refusal(message: str, **details: Any) -> RemoteProtocolError:
    return RemoteProtocolError(INVALID_REQUEST, message, details={"code": "SYSTEM_RUN_DENIED",
                                                                  "command": "system.run", **details})


async def authorize_node_run(runtime: Runtime, node_id: str, params: Any) -> dict[str, Any] | None:
    """Wait until the exec approvals allow ``node_id`` to run the ``system.run`` of ``params`` (see the module
    docstring); the approval fields to send with it (``None``: allowlisted, nothing to add). Raises
    ``RemoteProtocolError`` (``SYSTEM_RUN_DENIED``) when they do not allow it."""
    argv = params.get("command") if isinstance(params, dict) else None
    if (not isinstance(argv, list) or not argv or len(argv) > MAX_NODE_ARGV
            or not all(isinstance(word, str) for word in argv) or not argv[0]
            or sum(len(word) for word in argv) > MAX_NODE_COMMAND):
        raise RemoteProtocolError(INVALID_REQUEST, "system.run: command must be a non-empty array of strings "
                                                   f"(at most {MAX_NODE_ARGV} words, {MAX_NODE_COMMAND} characters)")
    assert isinstance(params, dict)
    agents, broker = runtime.agents, runtime.approvals
    named = params.get("agentId")
    agent_id = normalize_agent_id(named) if isinstance(named, str) and named.strip() else agents.default_agent_id()
    if agent_id not in agents.agent_ids():
        raise _node_refusal(f"system.run: unknown agent id: {named}")
    try:
        _, file = await broker.read()
    except file_rules.ApprovalsFileError as exc:
        raise _node_refusal(f"SYSTEM_RUN_DENIED: {exc}") from None
    policy = file_rules.effective_policy(file, agent_id, runtime.config.tools.exec)
    verdict = file_rules.evaluate_argv(policy, argv)
    command = shlex.join(argv)
    if verdict.decision == "deny":
        raise _node_refusal(f"SYSTEM_RUN_DENIED: {verdict.reason}", reason=verdict.reason)
    if verdict.decision == "allow":
        if verdict.matched:
            await broker.update(lambda f: file_rules.record_use(f, agent_id, verdict.matched, command))
        return None
    cwd, session_key = params.get("cwd"), params.get("sessionKey")
    request = ExecApprovalRequest(command=command, cwd=cwd if isinstance(cwd, str) else None, host="node",
                                  security=policy.security, ask=policy.ask, agent_id=agent_id,
                                  resolved_path=argv[0],
                                  session_key=session_key if isinstance(session_key, str) else None)
    log.info("node %s: system.run waits for approval", node_id)
    _, decision = await broker.request(request, timeout_ms=runtime.config.tools.exec.approval_timeout_ms)
    if decision is None:
        if policy.ask_fallback != "full":
            raise _node_refusal(f"SYSTEM_RUN_DENIED: the approval request timed out (askFallback: "
                                f"{policy.ask_fallback})", reason="approval-timeout")
        decision = "allow-once"
    elif decision == "deny":
        raise _node_refusal("SYSTEM_RUN_DENIED: denied by the approver", reason="user-denied")
    elif decision == "allow-always":
        await broker.update(lambda f: file_rules.allow_always(f, agent_id, verdict.resolved, command))
    return {"approved": True, "approvalDecision": decision}

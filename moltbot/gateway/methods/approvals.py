"""``exec.approvals.get|set`` (admin) and ``exec.approval.request|resolve|list`` (approvals scope), and
``exec.approvals.node.get|set`` (admin): forwarded to the node as ``system.execApprovals.get|set`` (the
node keeps its own file and applies the baseHash rule itself), its answer returned as it is, as the original
forwards them; a node that is not connected, or fails, is ``UNAVAILABLE`` with its error in the details.

``set`` follows config's baseHash rule: required once the file exists, refused when the file changed
since the caller's ``get``; a file without ``socket.token`` keeps the token already on disk (``get``
never shows it). ``request`` is a long-poll: the response comes with the decision or at the timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import trio

from ...agents import approvals as file_rules
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    EmptyParams,
    ExecApprovalRequest,
    ExecApprovalRequestedEvent,
    ExecApprovalRequestParams,
    ExecApprovalRequestResult,
    ExecApprovalResolveParams,
    ExecApprovalsNodeGetParams,
    ExecApprovalsNodeSetParams,
    ExecApprovalsSetParams,
    ExecApprovalsSnapshot,
    OkResult,
    ProtocolError,
    RemoteProtocolError,
    parse_json,
)
from ..approvals import ApprovalError

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

NODE_TIMEOUT_MS = 30_000
BASE_HASH_REQUIRED = "exec approvals base hash required; re-run exec.approvals.get and retry"
BASE_HASH_STALE = "exec approvals changed since last load; re-run exec.approvals.get and retry"


def _snapshot(runtime: Runtime, text: str | None, file: dict) -> ExecApprovalsSnapshot:
    return ExecApprovalsSnapshot(path=str(runtime.approvals.path), exists=text is not None,
                                 hash=file_rules.file_hash(text), file=file_rules.redacted(file))


async def _read(runtime: Runtime) -> tuple[str | None, dict]:
    try:
        return await runtime.approvals.read()
    except file_rules.ApprovalsFileError as exc:
        raise RemoteProtocolError(INVALID_REQUEST, str(exc)) from None


async def approvals_get(runtime: Runtime, connection: Connection, params: EmptyParams) -> ExecApprovalsSnapshot:
    text, file = await _read(runtime)
    return _snapshot(runtime, text, file)


async def approvals_set(runtime: Runtime, connection: Connection,
                        params: ExecApprovalsSetParams) -> ExecApprovalsSnapshot:
    try:
        wanted = file_rules.normalize(params.file)
    except file_rules.ApprovalsFileError as exc:
        raise RemoteProtocolError(INVALID_REQUEST, f"invalid exec approvals file: {exc}") from None
    broker = runtime.approvals
    async with broker.file_lock:
        text, current = await _read(runtime)
        if text is not None and params.base_hash is None:
            raise RemoteProtocolError(INVALID_REQUEST, BASE_HASH_REQUIRED)
        if params.base_hash is not None and params.base_hash.strip() != file_rules.file_hash(text):
            raise RemoteProtocolError(INVALID_REQUEST, BASE_HASH_STALE)
        token = (current.get("socket") or {}).get("token")
        if token and not (wanted.get("socket") or {}).get("token"):
            wanted.setdefault("socket", {})["token"] = token
        written = await trio.to_thread.run_sync(file_rules.write_file, broker.path, wanted)
    return _snapshot(runtime, written, wanted)


async def approval_request(runtime: Runtime, connection: Connection,
                           params: ExecApprovalRequestParams) -> ExecApprovalRequestResult:
    request = ExecApprovalRequest(command=params.command, cwd=params.cwd, host=params.host,
                                  security=params.security, ask=params.ask, agent_id=params.agent_id,
                                  resolved_path=params.resolved_path, session_key=params.session_key)
    try:
        pending, decision = await runtime.approvals.request(request, id=params.id, timeout_ms=params.timeout_ms)
    except ApprovalError as exc:
        raise RemoteProtocolError(INVALID_REQUEST, str(exc)) from None
    # The broker hands back what ``exec.approval.resolve`` accepted: one of the decisions, or None.
    return ExecApprovalRequestResult(id=pending.id, decision=cast(Any, decision),
                                     created_at_ms=pending.created_at_ms, expires_at_ms=pending.expires_at_ms)


async def approval_resolve(runtime: Runtime, connection: Connection, params: ExecApprovalResolveParams) -> OkResult:
    client = connection.params.client
    try:
        runtime.approvals.resolve(params.id, params.decision, client.display_name or client.id)
    except ApprovalError as exc:
        raise RemoteProtocolError(INVALID_REQUEST, str(exc)) from None
    return OkResult(ok=True)


async def approval_list(runtime: Runtime, connection: Connection,
                        params: EmptyParams) -> list[ExecApprovalRequestedEvent]:
    return runtime.approvals.list()


async def _node_call(runtime: Runtime, node_id: str, command: str, params: dict) -> Any:
    nodes = runtime.nodes
    session = nodes.registry.get(node_id)
    if session is None:
        raise ProtocolError(UNAVAILABLE, "node not connected", details={"code": "NOT_CONNECTED"})
    outcome = await nodes.registry.invoke(session, command, params, timeout_ms=NODE_TIMEOUT_MS,
                                          idempotency_key=None)
    if not outcome.ok:
        error = outcome.error or {}
        raise ProtocolError(UNAVAILABLE, error.get("message") or "node invoke failed", details={"nodeError": error})
    if outcome.payload_json is not None:
        try:
            return parse_json(outcome.payload_json)
        except RemoteProtocolError:  # the node's answer did not parse: nothing to hand on
            return None
    return outcome.payload


async def approvals_node_get(runtime: Runtime, connection: Connection, params: ExecApprovalsNodeGetParams) -> Any:
    return await _node_call(runtime, params.node_id, "system.execApprovals.get", {})


async def approvals_node_set(runtime: Runtime, connection: Connection, params: ExecApprovalsNodeSetParams) -> Any:
    body: dict[str, Any] = {"file": params.file}
    if params.base_hash is not None:
        body["baseHash"] = params.base_hash
    return await _node_call(runtime, params.node_id, "system.execApprovals.set", body)

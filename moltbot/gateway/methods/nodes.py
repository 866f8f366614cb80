"""``node.*``: node pairing, listing, rename, invoke and the node-side ``node.invoke.result``/``node.event``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs

from ...devices.store import now_ms
from ...nodes import policy
from ...nodes.pairing import node_view, request_view
from ...nodes.registry import DEFAULT_INVOKE_TIMEOUT_MS, node_id_of
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    UNSET,
    EmptyParams,
    JsonLimitError,
    NodeDescription,
    NodeEventParams,
    NodeEventResult,
    NodeIdParams,
    NodeInvokeParams,
    NodeInvokeResult,
    NodeInvokeResultAck,
    NodeInvokeResultParams,
    NodeListResult,
    NodePairApproveResult,
    NodePairListResult,
    NodePairRejectResult,
    NodePairRequestParams,
    NodePairRequestResult,
    NodePairVerifyParams,
    NodePairVerifyResult,
    NodeRenameParams,
    NodeRenameResult,
    ProtocolError,
    RemoteProtocolError,
    RequestIdParams,
    parse_json,
)
from ..approvals import authorize_node_run
from . import pairing as resolve

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

log = logging.getLogger("moltbot.nodes")


# --- node pairing (its own store) ---------------------------------------------------------------------

async def pair_request(runtime: Runtime, connection: Connection, params: NodePairRequestParams) -> NodePairRequestResult:
    pairing = runtime.nodes.pairing
    request, created = pairing.request(params)
    if created:
        await pairing.save()
        runtime.nodes.emit_pairing("node.pair.requested", request_view(request))
    return NodePairRequestResult(status="pending", request=request_view(request), created=created)


async def pair_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> NodePairListResult:
    pairing = runtime.nodes.pairing
    return NodePairListResult(pending=[request_view(r) for r in pairing.pending()],
                              paired=[node_view(n) for n in pairing.paired()])


async def pair_approve(runtime: Runtime, connection: Connection, params: RequestIdParams) -> NodePairApproveResult:
    node = await resolve.approve(runtime, resolve.NODE, params.request_id)
    return NodePairApproveResult(request_id=params.request_id, node=node_view(node))


async def pair_reject(runtime: Runtime, connection: Connection, params: RequestIdParams) -> NodePairRejectResult:
    request = await resolve.reject(runtime, resolve.NODE, params.request_id)
    return NodePairRejectResult(request_id=params.request_id, node_id=request["nodeId"])


async def pair_verify(runtime: Runtime, connection: Connection, params: NodePairVerifyParams) -> NodePairVerifyResult:
    node = runtime.nodes.pairing.verify(params.node_id, params.token)
    return NodePairVerifyResult(ok=True, node=node_view(node)) if node else NodePairVerifyResult(ok=False)


async def rename(runtime: Runtime, connection: Connection, params: NodeRenameParams) -> NodeRenameResult:
    name = params.display_name.strip()
    if not name:
        raise RemoteProtocolError(INVALID_REQUEST, "displayName required")
    nodes = runtime.nodes
    renamed = nodes.pairing.rename(params.node_id, name) is not None
    if nodes.devices.paired(params.node_id) is not None:  # node.list reads the device store
        nodes.devices.update_metadata(params.node_id, {"displayName": name})
        renamed = True
        await nodes.devices.save()
    if not renamed:
        raise RemoteProtocolError(INVALID_REQUEST, "unknown nodeId")
    await nodes.pairing.save()
    return NodeRenameResult(node_id=params.node_id, display_name=name)


# --- connected nodes -------------------------------------------------------------------------------------

async def node_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> NodeListResult:
    return NodeListResult(ts=now_ms(), nodes=runtime.nodes.node_infos())


async def describe(runtime: Runtime, connection: Connection, params: NodeIdParams) -> NodeDescription:
    info = next((n for n in runtime.nodes.node_infos() if n.node_id == params.node_id), None)
    if info is None:
        raise RemoteProtocolError(INVALID_REQUEST, "unknown nodeId")
    return NodeDescription(ts=now_ms(), **attrs.asdict(info, recurse=False))


async def invoke(runtime: Runtime, connection: Connection, params: NodeInvokeParams) -> NodeInvokeResult:
    nodes = runtime.nodes
    session = nodes.registry.get(params.node_id)
    if session is None:
        raise ProtocolError(UNAVAILABLE, "node not connected", details={"code": "NOT_CONNECTED"})
    reason = policy.refusal(params.command, session.commands or None, nodes.allowlist_for(session.connection))
    if reason is not None:
        raise RemoteProtocolError(INVALID_REQUEST, "node command not allowed",
                                  details={"reason": reason, "command": params.command})
    approval = None
    if params.command == "system.run":  # through the exec approvals first, as the exec tool's commands
        approval = await authorize_node_run(runtime, params.node_id, params.params)
        if nodes.registry.get(params.node_id) is not session:  # it left (or came back) while approvers thought
            raise ProtocolError(UNAVAILABLE, "node not connected", details={"code": "NOT_CONNECTED"})
    timeout_ms = DEFAULT_INVOKE_TIMEOUT_MS if params.timeout_ms is None else params.timeout_ms
    outcome = await nodes.registry.invoke(session, params.command, params.params, timeout_ms=timeout_ms,
                                          idempotency_key=params.idempotency_key, approval=approval)
    if not outcome.ok:
        error = outcome.error or {}
        raise ProtocolError(UNAVAILABLE, error.get("message") or "node invoke failed", details={"nodeError": error})
    payload = outcome.payload
    if outcome.payload_json is not None:
        try:
            payload = parse_json(outcome.payload_json)
        except RemoteProtocolError as exc:  # the node's answer, not the caller's request: raw text only
            log.debug("node.invoke %s: payloadJSON of %s not used: %s", params.command, params.node_id, exc.message)
            payload = None
    return NodeInvokeResult(ok=True, node_id=params.node_id, command=params.command, payload=payload,
                            payload_json=outcome.payload_json)


async def invoke_result(runtime: Runtime, connection: Connection,
                        params: NodeInvokeResultParams) -> NodeInvokeResultAck:
    caller = node_id_of(connection)
    if params.node_id != caller:
        raise RemoteProtocolError(INVALID_REQUEST, "nodeId mismatch")
    if not runtime.nodes.registry.handle_result(caller, params):
        return NodeInvokeResultAck(ok=True, ignored=True)
    return NodeInvokeResultAck(ok=True)


async def node_event(runtime: Runtime, connection: Connection, params: NodeEventParams) -> NodeEventResult:
    """Subscriptions and exec notices are handled here; other events go to a registered handler."""
    payload: Any = params.payload if params.payload is not UNSET else None
    if isinstance(params.payload_json, str):
        try:
            payload = parse_json(params.payload_json)
        except JsonLimitError as exc:  # valid JSON beyond the frame's own limits: the node is told
            raise RemoteProtocolError(INVALID_REQUEST, f"invalid node.event params: payloadJSON: {exc.message}") from None
        except RemoteProtocolError:
            payload = None
    session = runtime.nodes.registry.get(node_id_of(connection))
    key = payload.get("sessionKey") if isinstance(payload, dict) else None
    handled = True
    if params.event in ("chat.subscribe", "chat.unsubscribe") and session is not None and isinstance(key, str):
        (session.subscriptions.add if params.event == "chat.subscribe" else session.subscriptions.discard)(key)
    elif params.event in ("exec.started", "exec.finished", "exec.denied"):
        command = payload.get("command") if isinstance(payload, dict) else None
        runtime.state.system_event(f"Node {node_id_of(connection)}: {params.event}"
                                   + (f" {command}" if command else ""))
    elif (handler := runtime.nodes.event_handlers.get(params.event)) is not None:
        await handler(node_id_of(connection), payload)
    else:
        handled = False
        log.debug("node.event %s from %s ignored", params.event, node_id_of(connection))
    return NodeEventResult(ok=True, event=params.event, handled=handled)

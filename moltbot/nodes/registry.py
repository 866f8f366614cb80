"""Connected nodes and ``node.invoke`` over the control plane (the original's
``node-registry.ts``).

Theory of operation. A connection with role ``node`` becomes a ``NodeSession`` when it is registered:
its id is ``device.id`` (else ``client.id``), its declared commands filtered by the policy. The session is
supervised by a task in the connection's own nursery, so whatever ends the connection (peer gone, slow
consumer, restart) also ends the session and fails its invokes in flight ("node disconnected (<cmd>)").
An invoke sends ``node.invoke.request`` to that one connection (no ``seq``) and waits, bounded by its
timeout, for the node's ``node.invoke.result``; a result that arrives after the timeout, for an unknown
id, or from another node is answered ``ignored``. A node that connects again under the same id replaces
the old session; the old connection's end then no longer touches the new one.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..devices.store import now_ms
from ..protocol import UNSET, EventFrame, NodeInvokeRequest, NodeInvokeResultParams, encode_frame

if TYPE_CHECKING:
    from .runtime_host import NodeConnection

log = logging.getLogger("moltbot.nodes")

DEFAULT_INVOKE_TIMEOUT_MS = 30_000


@attrs.frozen
class InvokeOutcome:
    """What a node answered (or why it did not): ``error`` is ``{code, message}`` when ``ok`` is false."""

    ok: bool
    payload: Any = None
    payload_json: str | None = None
    error: dict[str, Any] | None = None


@attrs.define(eq=False)
class _PendingInvoke:
    node_id: str
    command: str
    done: trio.Event = attrs.field(factory=trio.Event)
    outcome: InvokeOutcome | None = None

    def finish(self, outcome: InvokeOutcome) -> None:
        if not self.done.is_set():
            self.outcome = outcome
            self.done.set()


@attrs.define(eq=False)
class NodeSession:
    """One connected node."""

    node_id: str
    connection: NodeConnection
    commands: list[str]
    connected_at_ms: int
    invokes: set[str] = attrs.field(factory=set)
    subscriptions: set[str] = attrs.field(factory=set)


@attrs.frozen
class RegistryStatistics:
    connected: int
    pending_invokes: int
    invokes: int
    timeouts: int
    late_results: int


def node_id_of(connection: NodeConnection) -> str:
    params = connection.params
    return params.device.id if params.device is not None else params.client.id


def strip_approval_fields(params: Any) -> Any:
    """``params`` without caller-supplied approval fields (``approved``, ``approvalDecision``, …): only the
    node's own exec approval may approve a command (CVE-2026-28466: a forwarded ``approved: true`` skipped
    it)."""
    if not isinstance(params, dict):
        return params
    return {key: value for key, value in params.items() if "approv" not in str(key).lower()}


class NodeRegistry:
    """Node sessions by id and the invokes waiting for their results."""

    def __init__(self) -> None:
        self.sessions: dict[str, NodeSession] = {}
        self._pending: dict[str, _PendingInvoke] = {}
        self._invokes = self._timeouts = self._late = 0

    def attach(self, connection: NodeConnection, commands: list[str]) -> NodeSession:
        """Register a node connection; its session lives as long as the connection's nursery."""
        session = NodeSession(node_id_of(connection), connection, commands, now_ms())
        self.sessions[session.node_id] = session
        if connection.nursery is not None:
            connection.nursery.start_soon(self._supervise, session)
        return session

    async def _supervise(self, session: NodeSession) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.detach(session.connection)

    def detach(self, connection: NodeConnection) -> None:
        """Forget a node connection (idempotent) and fail what it was asked to do."""
        session = self.sessions.get(node_id_of(connection))
        if session is None or session.connection is not connection:
            return
        del self.sessions[session.node_id]
        for invoke_id in list(session.invokes):
            pending = self._pending.get(invoke_id)
            if pending is not None:
                pending.finish(InvokeOutcome(False, error={
                    "code": "UNAVAILABLE", "message": f"node disconnected ({pending.command})"}))

    def get(self, node_id: str) -> NodeSession | None:
        return self.sessions.get(node_id)

    async def invoke(self, session: NodeSession, command: str, params: Any, *, timeout_ms: int,
                     idempotency_key: str | None, approval: dict[str, Any] | None = None) -> InvokeOutcome:
        """Ask the node to run ``command``; wait at most ``timeout_ms`` for its answer. ``approval`` is the
        gateway's own exec approval of a ``system.run`` (``approved``, ``approvalDecision``), added to the
        params after the caller's approval fields are stripped.

        Cancellation: cancelling the caller withdraws the invoke; a later result is ignored.
        """
        invoke_id = str(uuid.uuid4())
        pending = self._pending[invoke_id] = _PendingInvoke(session.node_id, command)
        session.invokes.add(invoke_id)
        self._invokes += 1
        try:
            if session.connection.closing or self.sessions.get(session.node_id) is not session:
                return InvokeOutcome(False, error={"code": "UNAVAILABLE", "message": f"node disconnected ({command})"})
            params = strip_approval_fields(params)
            if approval and isinstance(params, dict):
                params = {**params, **approval}
            request = NodeInvokeRequest(
                id=invoke_id, node_id=session.node_id, command=command,
                params_json=None if params is UNSET or params is None else json.dumps(params, separators=(",", ":")),
                timeout_ms=timeout_ms, idempotency_key=idempotency_key)
            session.connection.send(encode_frame(EventFrame(event="node.invoke.request", payload=request)))
            with trio.move_on_after(timeout_ms / 1000):
                await pending.done.wait()
            if pending.outcome is None:
                self._timeouts += 1
                return InvokeOutcome(False, error={"code": "TIMEOUT", "message": "node invoke timed out"})
            return pending.outcome
        finally:
            del self._pending[invoke_id]
            session.invokes.discard(invoke_id)

    def handle_result(self, caller_node_id: str, result: NodeInvokeResultParams) -> bool:
        """Deliver a node's result; ``False`` when nobody waits for it (late, unknown, another node's)."""
        pending = self._pending.get(result.id)
        if pending is None or pending.node_id != caller_node_id or pending.done.is_set():
            self._late += 1
            return False
        error = None
        if not result.ok:
            node_error = result.error if result.error not in (None, UNSET) else None
            error = {"code": (node_error and node_error.code) or "UNAVAILABLE",
                     "message": (node_error and node_error.message) or "node invoke failed"}
        pending.finish(InvokeOutcome(
            ok=result.ok, payload=None if result.payload is UNSET else result.payload,
            payload_json=result.payload_json if isinstance(result.payload_json, str) else None, error=error))
        return True

    def statistics(self) -> RegistryStatistics:
        return RegistryStatistics(len(self.sessions), len(self._pending), self._invokes, self._timeouts, self._late)

"""What ``device.pair.*`` and ``node.pair.*`` share: resolving a pending request.

Approving or rejecting a request is the same four steps for both kinds: resolve it in the kind's store
(an unknown id is INVALID_REQUEST "unknown requestId"), save the store, announce ``<kind>.pair.resolved``
to pairing operators, and return the record. The kinds differ only in their store, the key of a record's
id and the resolved event's type (a ``PairKind``); what device approval checks first (the caller's scopes)
stays in ``devices.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..._util import wall_ms
from ...protocol import INVALID_REQUEST, DevicePairResolved, NodePairResolved, RemoteProtocolError

if TYPE_CHECKING:
    from ..runtime import Runtime


class PairStore(Protocol):
    def approve(self, request_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...

    def reject(self, request_id: str) -> dict[str, Any] | None: ...

    async def save(self) -> None: ...


@attrs.frozen
class PairKind:
    event: str
    id_key: str
    store: Callable[[Runtime], PairStore]
    resolved: Callable[[str, str, Any, int], Any]  # (request id, device or node id, decision, ts) -> payload


def _device_store(runtime: Runtime) -> PairStore:
    return runtime.nodes.devices


def _node_store(runtime: Runtime) -> PairStore:
    return runtime.nodes.pairing


DEVICE = PairKind("device.pair.resolved", "deviceId", _device_store, DevicePairResolved)
NODE = PairKind("node.pair.resolved", "nodeId", _node_store, NodePairResolved)


async def approve(runtime: Runtime, kind: PairKind, request_id: str) -> dict[str, Any]:
    """Approve a pending request; the paired record."""
    store = kind.store(runtime)
    approved = store.approve(request_id)
    return await _resolved(
        runtime, kind, store, request_id, "approved", None if approved is None else approved[1]
    )


async def reject(runtime: Runtime, kind: PairKind, request_id: str) -> dict[str, Any]:
    """Reject a pending request; the request."""
    store = kind.store(runtime)
    return await _resolved(runtime, kind, store, request_id, "rejected", store.reject(request_id))


async def _resolved(
    runtime: Runtime,
    kind: PairKind,
    store: PairStore,
    request_id: str,
    decision: str,
    record: dict[str, Any] | None,
) -> dict[str, Any]:
    if record is None:
        raise RemoteProtocolError(INVALID_REQUEST, "unknown requestId")
    await store.save()
    runtime.nodes.emit_pairing(
        kind.event, kind.resolved(request_id, record[kind.id_key], decision, wall_ms())
    )
    return record

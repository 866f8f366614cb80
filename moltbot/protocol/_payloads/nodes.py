"""``node.*`` methods and the ``node.pair.*`` / ``node.invoke.request`` events."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._frames import UNSET, NonEmptyStr, NonNegativeInt
from .devices import Decision


@attrs.frozen
class NodePairRequestParams:
    node_id: NonEmptyStr
    display_name: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    version: NonEmptyStr | None = None
    core_version: NonEmptyStr | None = None
    ui_version: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    caps: list[NonEmptyStr] | None = None
    commands: list[NonEmptyStr] | None = None
    remote_ip: NonEmptyStr | None = None
    silent: bool | None = None


@attrs.frozen
class NodePairRequest:
    """A node waiting for approval; also the ``node.pair.requested`` event payload."""

    request_id: NonEmptyStr
    node_id: NonEmptyStr
    is_repair: bool
    ts: NonNegativeInt
    display_name: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    version: NonEmptyStr | None = None
    core_version: NonEmptyStr | None = None
    ui_version: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    caps: list[NonEmptyStr] | None = None
    commands: list[NonEmptyStr] | None = None
    permissions: dict[str, bool] | None = None
    remote_ip: NonEmptyStr | None = None
    silent: bool | None = None


@attrs.frozen
class NodePairRequestResult:
    status: Literal["pending"]
    request: NodePairRequest
    created: bool


@attrs.frozen
class PairedNode:
    """A node of the node-pairing store, with its token (``node.pair.list`` does not redact it)."""

    node_id: NonEmptyStr
    token: NonEmptyStr
    created_at_ms: NonNegativeInt
    approved_at_ms: NonNegativeInt
    display_name: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    version: NonEmptyStr | None = None
    core_version: NonEmptyStr | None = None
    ui_version: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    caps: list[NonEmptyStr] | None = None
    commands: list[NonEmptyStr] | None = None
    bins: list[NonEmptyStr] | None = None
    permissions: dict[str, bool] | None = None
    remote_ip: NonEmptyStr | None = None
    last_connected_at_ms: NonNegativeInt | None = None


@attrs.frozen
class NodePairListResult:
    pending: list[NodePairRequest]
    paired: list[PairedNode]


@attrs.frozen
class NodePairApproveResult:
    request_id: NonEmptyStr
    node: PairedNode


@attrs.frozen
class NodePairRejectResult:
    request_id: NonEmptyStr
    node_id: NonEmptyStr


@attrs.frozen
class NodePairResolved:
    request_id: NonEmptyStr
    node_id: NonEmptyStr
    decision: Decision
    ts: NonNegativeInt


@attrs.frozen
class NodePairVerifyParams:
    node_id: NonEmptyStr
    token: NonEmptyStr = attrs.field(repr=False)


@attrs.frozen
class NodePairVerifyResult:
    ok: bool
    node: PairedNode | None = None


@attrs.frozen
class NodeRenameParams:
    node_id: NonEmptyStr
    display_name: NonEmptyStr


@attrs.frozen
class NodeRenameResult:
    node_id: NonEmptyStr
    display_name: NonEmptyStr


@attrs.frozen
class NodeIdParams:
    node_id: NonEmptyStr


@attrs.frozen
class NodeInfo:
    """One node as ``node.list`` shows it: paired (device store, role ``node``) and/or connected."""

    node_id: NonEmptyStr
    caps: list[NonEmptyStr]
    commands: list[NonEmptyStr]
    paired: bool
    connected: bool
    display_name: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    version: NonEmptyStr | None = None
    core_version: NonEmptyStr | None = None
    ui_version: NonEmptyStr | None = None
    device_family: NonEmptyStr | None = None
    model_identifier: NonEmptyStr | None = None
    remote_ip: NonEmptyStr | None = None
    path_env: str | None = None
    permissions: dict[str, bool] | None = None
    connected_at_ms: NonNegativeInt | None = None


@attrs.frozen
class NodeListResult:
    ts: NonNegativeInt
    nodes: list[NodeInfo]


def _ts_first(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """``ts`` leads a ``node.describe`` result on the wire, as it did before the class shared ``NodeInfo``'s fields."""
    return sorted(fields, key=lambda field: field.name != "ts")


@attrs.frozen(field_transformer=_ts_first)
class NodeDescription(NodeInfo):
    """``node.describe``: a ``node.list`` entry plus ``ts``."""

    ts: NonNegativeInt = attrs.field(kw_only=True)


@attrs.frozen
class NodeInvokeParams:
    node_id: NonEmptyStr
    command: NonEmptyStr
    idempotency_key: NonEmptyStr
    params: Any = UNSET
    timeout_ms: NonNegativeInt | None = None


@attrs.frozen
class NodeInvokeResult:
    """``payloadJSON`` is always on the wire (``null`` when the node answered a plain ``payload``)."""

    ok: Literal[True]
    node_id: NonEmptyStr
    command: NonEmptyStr
    payload: Any
    payload_json: str | None


@attrs.frozen
class NodeInvokeRequest:
    """``node.invoke.request``, sent to the target node only (no ``seq``); ``paramsJSON`` may be null."""

    id: NonEmptyStr
    node_id: NonEmptyStr
    command: NonEmptyStr
    params_json: str | None
    timeout_ms: NonNegativeInt | None = None
    idempotency_key: NonEmptyStr | None = None


@attrs.frozen
class NodeError:
    code: NonEmptyStr | None = None
    message: NonEmptyStr | None = None


@attrs.frozen
class NodeInvokeResultParams:
    """A node's answer to ``node.invoke.request``; null ``payloadJSON``/``error`` count as absent."""

    id: NonEmptyStr
    node_id: NonEmptyStr
    ok: bool
    payload: Any = UNSET
    payload_json: str | None = UNSET
    error: NodeError | None = UNSET


@attrs.frozen
class NodeInvokeResultAck:
    ok: Literal[True]
    ignored: bool | None = None


@attrs.frozen
class NodeEventParams:
    event: NonEmptyStr
    payload: Any = UNSET
    payload_json: str | None = UNSET


@attrs.frozen
class NodeEventResult:
    """``{ok}`` (January) with protocol 4's ``event`` (echoed) and ``handled`` (false: nothing here acts on it)."""

    ok: Literal[True]
    event: NonEmptyStr
    handled: bool

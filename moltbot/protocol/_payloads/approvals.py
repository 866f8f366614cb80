"""``exec.approvals.get|set`` and ``exec.approval.request|resolve|list``
and the ``exec.approval.requested`` / ``resolved`` events."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._frames import NonEmptyStr, NonNegativeInt, PositiveInt

Decision = Literal["allow-once", "allow-always", "deny"]


@attrs.frozen
class ExecApprovalsSnapshot:
    """``exec.approvals.get`` (and ``set``): where the file is, whether it exists, its hash, its content
    (the socket token left out)."""

    path: NonEmptyStr
    exists: bool
    file: dict[str, Any]
    hash: NonEmptyStr | None = None


@attrs.frozen
class ExecApprovalsSetParams:
    """``file`` replaces the approvals file; ``baseHash`` (from ``get``) is required once the file exists."""

    file: dict[str, Any]
    base_hash: NonEmptyStr | None = None


@attrs.frozen
class ExecApprovalsNodeGetParams:
    node_id: NonEmptyStr


@attrs.frozen
class ExecApprovalsNodeSetParams:
    """Handed to the node as ``system.execApprovals.set {file, baseHash}``; the node checks both."""

    node_id: NonEmptyStr
    file: dict[str, Any] | None = None
    base_hash: NonEmptyStr | None = None


@attrs.frozen
class ExecApprovalRequestParams:
    """Ask the approvers about a command; answered once decided or at ``timeoutMs`` (default 120 000)."""

    command: NonEmptyStr
    id: NonEmptyStr | None = None
    cwd: str | None = None
    host: str | None = None
    security: str | None = None
    ask: str | None = None
    agent_id: str | None = None
    resolved_path: str | None = None
    session_key: str | None = None
    timeout_ms: PositiveInt | None = None


@attrs.frozen
class ExecApprovalRequestResult:
    """``decision`` is ``None`` when the request timed out."""

    id: NonEmptyStr
    decision: Decision | None
    created_at_ms: NonNegativeInt
    expires_at_ms: NonNegativeInt


@attrs.frozen
class ExecApprovalResolveParams:
    id: NonEmptyStr
    decision: Decision


@attrs.frozen
class ExecApprovalRequest:
    """The command as approvers see it (absent fields are ``null``)."""

    command: str
    cwd: str | None
    host: str | None
    security: str | None
    ask: str | None
    agent_id: str | None
    resolved_path: str | None
    session_key: str | None


@attrs.frozen
class ExecApprovalRequestedEvent:
    """``exec.approval.requested`` (also one row of ``exec.approval.list``)."""

    id: NonEmptyStr
    request: ExecApprovalRequest
    created_at_ms: NonNegativeInt
    expires_at_ms: NonNegativeInt


@attrs.frozen
class ExecApprovalResolvedEvent:
    id: NonEmptyStr
    decision: Decision
    ts: NonNegativeInt
    resolved_by: str | None = None

"""``device.pair.*`` and ``device.token.*`` methods and their events."""

from __future__ import annotations

from typing import Literal

import attrs

from .._frames import NonEmptyStr, NonNegativeInt

Decision = Literal["approved", "rejected"]


@attrs.frozen
class DevicePairRequest:
    """A device waiting for approval; also the ``device.pair.requested`` event payload."""

    request_id: NonEmptyStr
    device_id: NonEmptyStr
    public_key: NonEmptyStr
    ts: NonNegativeInt
    display_name: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    client_id: NonEmptyStr | None = None
    client_mode: NonEmptyStr | None = None
    role: NonEmptyStr | None = None
    roles: list[NonEmptyStr] | None = None
    scopes: list[NonEmptyStr] | None = None
    remote_ip: NonEmptyStr | None = None
    silent: bool | None = None
    is_repair: bool | None = None


@attrs.frozen
class DeviceTokenSummary:
    """A device token as listed: never the token itself."""

    role: NonEmptyStr
    scopes: list[NonEmptyStr]
    created_at_ms: NonNegativeInt
    rotated_at_ms: NonNegativeInt | None = None
    revoked_at_ms: NonNegativeInt | None = None
    last_used_at_ms: NonNegativeInt | None = None


@attrs.frozen
class PairedDevice:
    device_id: NonEmptyStr
    public_key: NonEmptyStr
    created_at_ms: NonNegativeInt
    approved_at_ms: NonNegativeInt
    display_name: NonEmptyStr | None = None
    platform: NonEmptyStr | None = None
    client_id: NonEmptyStr | None = None
    client_mode: NonEmptyStr | None = None
    role: NonEmptyStr | None = None
    roles: list[NonEmptyStr] | None = None
    scopes: list[NonEmptyStr] | None = None
    remote_ip: NonEmptyStr | None = None
    tokens: list[DeviceTokenSummary] | None = None
    connected: bool | None = None  # device.pair.list: a connection signed by this device is open now
    last_seen_at_ms: NonNegativeInt | None = None  # device.pair.list: its token's last use (its last connect)
    approved_via: NonEmptyStr | None = None  # OpenClaw's: "owner" (device.pair.approve) or "silent" (local)


@attrs.frozen
class DevicePairListResult:
    pending: list[DevicePairRequest]
    paired: list[PairedDevice]


@attrs.frozen
class RequestIdParams:
    """Params of the approve/reject methods: the pending request to decide."""

    request_id: NonEmptyStr


@attrs.frozen
class DevicePairApproveResult:
    request_id: NonEmptyStr
    device: PairedDevice


@attrs.frozen
class DevicePairRejectResult:
    request_id: NonEmptyStr
    device_id: NonEmptyStr


@attrs.frozen
class DevicePairResolved:
    """``device.pair.resolved``: a request was approved (by an operator, or silently) or rejected."""

    request_id: NonEmptyStr
    device_id: NonEmptyStr
    decision: Decision
    ts: NonNegativeInt


@attrs.frozen
class DeviceTokenRotateParams:
    device_id: NonEmptyStr
    role: NonEmptyStr
    scopes: list[NonEmptyStr] | None = None


@attrs.frozen
class DeviceTokenRotateResult:
    device_id: NonEmptyStr
    role: NonEmptyStr
    token: NonEmptyStr
    scopes: list[NonEmptyStr]
    rotated_at_ms: NonNegativeInt


@attrs.frozen
class DeviceTokenRevokeParams:
    device_id: NonEmptyStr
    role: NonEmptyStr


@attrs.frozen
class DeviceTokenRevokeResult:
    device_id: NonEmptyStr
    role: NonEmptyStr
    revoked_at_ms: NonNegativeInt

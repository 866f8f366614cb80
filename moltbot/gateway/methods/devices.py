"""``device.pair.list|approve|reject`` and ``device.token.rotate|revoke``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from ...devices.pairing import ScopeEscalation, device_view, request_view, scopes_beyond
from ...protocol import (
    INVALID_REQUEST,
    DevicePairApproveResult,
    DevicePairListResult,
    DevicePairRejectResult,
    DeviceTokenRevokeParams,
    DeviceTokenRevokeResult,
    DeviceTokenRotateParams,
    DeviceTokenRotateResult,
    EmptyParams,
    PairedDevice,
    RemoteProtocolError,
    RequestIdParams,
)
from . import pairing as resolve

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime

log = logging.getLogger(__name__)


async def pair_list(runtime: Runtime, connection: Connection, params: EmptyParams) -> DevicePairListResult:
    """Pending requests and paired devices; each paired row also says whether the device is connected now
    and when it last connected (protocol 4's ``connected``/``lastSeenAtMs``) and how it was approved
    (OpenClaw's ``approvedVia``; absent for a device paired before it was recorded)."""
    devices = runtime.nodes.devices
    online = {c.params.device.id for c in runtime.broadcaster.connections if c.params.device is not None}
    return DevicePairListResult(pending=[request_view(r) for r in devices.pending()],
                                paired=[_with_presence(device_view(d), online) for d in devices.devices()])


def _with_presence(device: PairedDevice, online: set[str]) -> PairedDevice:
    used = [token.last_used_at_ms for token in device.tokens or () if token.last_used_at_ms is not None]
    return attrs.evolve(device, connected=device.device_id in online, last_seen_at_ms=max(used, default=None))


async def pair_approve(runtime: Runtime, connection: Connection, params: RequestIdParams) -> DevicePairApproveResult:
    """Approve a pending request. The caller must itself hold the operator scopes the device asked for
    (by protocol 4's implication), as OpenClaw's ``approveDevicePairing`` requires of ``callerScopes``:
    else INVALID_REQUEST "missing scope: <scope>" at every version (OpenClaw's answer), so a
    pairing-scoped operator cannot pair an admin device."""
    devices = runtime.nodes.devices
    pending = devices.files.pending.get(params.request_id)
    if pending is not None and "operator" in {pending.get("role"), *(pending.get("roles") or ())}:
        wanted = [scope for scope in pending.get("scopes") or () if scope.startswith("operator.")]
        beyond = scopes_beyond(wanted, connection.session.scopes)
        if beyond:
            raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {beyond[0]}")
    device = await resolve.approve(runtime, resolve.DEVICE, params.request_id)
    return DevicePairApproveResult(request_id=params.request_id, device=device_view(device))


async def pair_reject(runtime: Runtime, connection: Connection, params: RequestIdParams) -> DevicePairRejectResult:
    request = await resolve.reject(runtime, resolve.DEVICE, params.request_id)
    return DevicePairRejectResult(request_id=params.request_id, device_id=request["deviceId"])


async def token_rotate(runtime: Runtime, connection: Connection,
                       params: DeviceTokenRotateParams) -> DeviceTokenRotateResult:
    """A new token for a paired device's role. A scope beyond the caller's own is refused: at protocol 4
    as OpenClaw 2026.9.6 refuses it (INVALID_REQUEST "device token rotation denied", no details: its
    ``respondDeviceTokenRotationDenied`` answers every denial so and logs the reason), at 3 and 7 with
    the January "missing scope: <scope>"."""
    devices = runtime.nodes.devices
    try:
        entry = devices.rotate_token(params.device_id, params.role, params.scopes, connection.session.scopes)
    except ScopeEscalation as exc:
        if connection.session.protocol == 4:
            log.warning("device token rotation denied device=%s role=%s reason=caller-missing-scope scope=%s",
                        params.device_id, params.role, exc.scope)
            raise RemoteProtocolError(INVALID_REQUEST, "device token rotation denied") from None
        raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {exc.scope}") from None
    if entry is None:
        raise RemoteProtocolError(INVALID_REQUEST, "unknown deviceId/role")
    await devices.save()
    return DeviceTokenRotateResult(device_id=params.device_id, role=params.role, token=entry["token"],
                                   scopes=list(entry.get("scopes") or []),
                                   rotated_at_ms=entry.get("rotatedAtMs") or entry["createdAtMs"])


async def token_revoke(runtime: Runtime, connection: Connection,
                       params: DeviceTokenRevokeParams) -> DeviceTokenRevokeResult:
    """Revoke a device's token for a role. An operator token carrying a scope the caller does not hold is
    not the caller's to revoke (OpenClaw checks ``callerScopes`` the same way): INVALID_REQUEST "device
    token revocation denied" at protocol 4 (OpenClaw's answer), "missing scope: <scope>" at 3 and 7."""
    devices = runtime.nodes.devices
    current = ((devices.paired(params.device_id) or {}).get("tokens") or {}).get(params.role)
    if current is not None and params.role == "operator":
        beyond = scopes_beyond(current.get("scopes") or [], connection.session.scopes)
        if beyond:
            if connection.session.protocol == 4:
                log.warning("device token revocation denied device=%s role=%s reason=caller-missing-scope "
                            "scope=%s", params.device_id, params.role, beyond[0])
                raise RemoteProtocolError(INVALID_REQUEST, "device token revocation denied")
            raise RemoteProtocolError(INVALID_REQUEST, f"missing scope: {beyond[0]}")
    entry = devices.revoke_token(params.device_id, params.role)
    if entry is None:
        raise RemoteProtocolError(INVALID_REQUEST, "unknown deviceId/role")
    await devices.save()
    return DeviceTokenRevokeResult(device_id=params.device_id, role=params.role, revoked_at_ms=entry["revokedAtMs"])

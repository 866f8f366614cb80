"""Device pairing and device tokens: who is paired, with which roles and scopes, and the
per-role tokens each paired device may connect with.

Records keep the original's on-disk shape (camelCase JSON in ``<stateDir>/devices/{pending,paired}.json``)
so an existing state dir works unchanged. Every method here changes memory synchronously (no two tasks
interleave inside one); callers then ``await save()``. Tokens are 32 hex characters (a UUID without
dashes) and are compared in constant time.
"""

from __future__ import annotations

import hmac
import uuid
from pathlib import Path
from typing import Any

from ..protocol import DevicePairRequest, DeviceTokenSummary, PairedDevice, satisfies
from .store import PairingFiles, now_ms


def new_token() -> str:
    return uuid.uuid4().hex


def _merge(*groups: Any) -> list[str]:
    merged: list[str] = []
    for group in groups:
        for item in ([group] if isinstance(group, str) else group or []):
            if item and item not in merged:
                merged.append(item)
    return merged


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


def request_view(request: dict[str, Any]) -> DevicePairRequest:
    return DevicePairRequest(
        request_id=request["requestId"], device_id=request["deviceId"], public_key=request["publicKey"],
        ts=request.get("ts", 0), display_name=request.get("displayName"), platform=request.get("platform"),
        client_id=request.get("clientId"), client_mode=request.get("clientMode"), role=request.get("role"),
        roles=request.get("roles"), scopes=request.get("scopes"), remote_ip=request.get("remoteIp"),
        silent=request.get("silent"), is_repair=request.get("isRepair"))


def device_view(device: dict[str, Any]) -> PairedDevice:
    """A paired device as the wire shows it: tokens summarized, never the token itself."""
    tokens = [
        DeviceTokenSummary(role=t.get("role") or role, scopes=list(t.get("scopes") or []),
                           created_at_ms=t.get("createdAtMs", 0), rotated_at_ms=t.get("rotatedAtMs"),
                           revoked_at_ms=t.get("revokedAtMs"), last_used_at_ms=t.get("lastUsedAtMs"))
        for role, t in (device.get("tokens") or {}).items()
    ]
    return PairedDevice(
        device_id=device["deviceId"], public_key=device["publicKey"], created_at_ms=device.get("createdAtMs", 0),
        approved_at_ms=device.get("approvedAtMs", 0), display_name=device.get("displayName"),
        platform=device.get("platform"), client_id=device.get("clientId"), client_mode=device.get("clientMode"),
        role=device.get("role"), roles=device.get("roles") or None, scopes=device.get("scopes"),
        remote_ip=device.get("remoteIp"), tokens=tokens or None, approved_via=device.get("approvedVia"))


def _approval_kind(existing: dict[str, Any] | None, via: str) -> str | None:
    """OpenClaw's ``mergeApprovalKind`` (without its bootstrap kind, which this gateway has not)."""
    if via == "owner" or existing is None:
        return via
    if existing.get("approvedVia") is None:
        return None
    return "owner" if existing["approvedVia"] == "owner" else via


class ScopeEscalation(Exception):
    """A token would carry a scope its issuer does not hold."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


def scopes_beyond(wanted: Any, held: Any) -> list[str]:
    """The scopes of ``wanted`` that ``held`` does not cover, by protocol 4's implication
    (``_scopes.satisfies``: admin covers every ``operator.*``, write covers read, talk and sessions.*),
    as OpenClaw's ``resolveMissingRequestedScope`` compares pairing grants, tokens and callers."""
    held = list(held or ())
    return [scope for scope in wanted or () if scope not in held and not satisfies(scope, held)]


class DevicePairing:
    """The device pairing store of one Runtime (load once, then memory + atomic writes)."""

    def __init__(self, directory: Path | None) -> None:
        self.files = PairingFiles(directory)

    async def load(self) -> None:
        await self.files.load()

    async def save(self) -> None:
        await self.files.save()

    # --- reads --------------------------------------------------------------------------------------

    def paired(self, device_id: str) -> dict[str, Any] | None:
        return self.files.paired.get(device_id)

    def pending(self) -> list[dict[str, Any]]:
        return sorted(self.files.pending.values(), key=lambda r: r.get("ts", 0))

    def devices(self) -> list[dict[str, Any]]:
        return sorted(self.files.paired.values(), key=lambda d: d.get("approvedAtMs", 0))

    def upgrade_reason(self, device_id: str, public_key: str, role: str, scopes: tuple[str, ...]) -> str | None:
        """Why this device needs (re)pairing for ``role``/``scopes``, or ``None`` when it may connect."""
        device = self.paired(device_id)
        if device is None or device.get("publicKey") != public_key:
            return "not-paired"
        if role not in _merge(device.get("roles"), device.get("role")):
            return "role-upgrade"
        if scopes_beyond(scopes, device.get("scopes")):
            return "scope-upgrade"
        return None

    # --- pairing requests ---------------------------------------------------------------------------

    def request(self, *, device_id: str, public_key: str, role: str, scopes: tuple[str, ...],
                meta: dict[str, Any], silent: bool) -> tuple[dict[str, Any], bool]:
        """The pending request for this device (one per device), created or updated; and whether new."""
        for request in self.files.pending.values():
            if request["deviceId"] == device_id:
                request.update(_compact({
                    "publicKey": public_key, "role": role, "roles": _merge(request.get("roles"), role),
                    "scopes": _merge(request.get("scopes"), scopes), "silent": silent or None, **meta}))
                return request, False
        request = _compact({
            "requestId": str(uuid.uuid4()), "deviceId": device_id, "publicKey": public_key, "role": role,
            "roles": [role], "scopes": list(scopes), "silent": silent, "isRepair": device_id in self.files.paired,
            "ts": now_ms(), **meta})
        self.files.pending[request["requestId"]] = request
        return request, True

    def approve(self, request_id: str, via: str = "owner") -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Pair the requesting device: roles and scopes merged, a fresh token for the requested role.

        ``via`` is how (OpenClaw's ``approvedVia``: ``owner`` by an operator's ``device.pair.approve``,
        ``silent`` on the spot for a local client), recorded as OpenClaw merges it: an owner's approval
        stands over a later silent one, and a device paired before the field existed keeps none unless
        an owner approves it again."""
        request = self.files.pending.pop(request_id, None)
        if request is None:
            return None
        now = now_ms()
        existing = self.files.paired.get(request["deviceId"])
        if existing is not None and existing.get("publicKey") != request["publicKey"]:
            existing = None  # a new key for this id: the old grants do not carry over
        tokens = dict((existing or {}).get("tokens") or {})
        role = request.get("role")
        if role:
            previous = tokens.get(role)
            tokens[role] = _compact({
                "token": new_token(), "role": role, "scopes": list(request.get("scopes") or []),
                "createdAtMs": previous["createdAtMs"] if previous else now,
                "rotatedAtMs": now if previous else None,
                "lastUsedAtMs": previous.get("lastUsedAtMs") if previous else None})
        device = _compact({
            **(existing or {}),
            "deviceId": request["deviceId"], "publicKey": request["publicKey"],
            **{key: request.get(key) for key in ("displayName", "platform", "clientId", "clientMode", "remoteIp")},
            "role": role, "roles": _merge((existing or {}).get("roles"), (existing or {}).get("role"),
                                          request.get("roles"), role),
            "scopes": _merge((existing or {}).get("scopes"), request.get("scopes")),
            "tokens": tokens, "createdAtMs": (existing or {}).get("createdAtMs", now), "approvedAtMs": now,
            "approvedVia": _approval_kind(existing, via)})
        self.files.paired[device["deviceId"]] = device
        return request, device

    def reject(self, request_id: str) -> dict[str, Any] | None:
        return self.files.pending.pop(request_id, None)

    def update_metadata(self, device_id: str, meta: dict[str, Any]) -> None:
        device = self.files.paired.get(device_id)
        if device is not None:
            device.update(_compact(meta))

    # --- tokens ---------------------------------------------------------------------------------------

    def verify_token(self, device_id: str, token: str, role: str, scopes: tuple[str, ...]) -> bool:
        """A paired device's live token for ``role``, equal in constant time, covering ``scopes``."""
        device = self.files.paired.get(device_id)
        entry = ((device or {}).get("tokens") or {}).get(role)
        if entry is None or entry.get("revokedAtMs") is not None:
            return False
        if not hmac.compare_digest(str(entry.get("token", "")).encode(), token.encode()):
            return False
        if scopes_beyond(scopes, entry.get("scopes")):
            return False
        entry["lastUsedAtMs"] = now_ms()
        return True

    def ensure_token(self, device_id: str, role: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        """The device's live token for ``role`` if it covers ``scopes``, else a newly minted one."""
        device = self.files.paired[device_id]
        tokens = device.setdefault("tokens", {})
        entry = tokens.get(role)
        if entry is not None and entry.get("revokedAtMs") is None and not scopes_beyond(scopes, entry.get("scopes")):
            return entry
        return self._mint(device, role, list(scopes))

    def rotate_token(self, device_id: str, role: str, scopes: list[str] | None,
                     caller_scopes: frozenset[str] | None = None) -> dict[str, Any] | None:
        """A new token for ``role`` with ``scopes`` (default: the old token's). With ``caller_scopes``,
        scopes the caller does not hold itself are refused (GHSA-4jpw-hj22-2xmc: a pairing-scoped
        operator minted an admin token).

        Raises:
            ScopeEscalation: naming the first scope beyond the caller's.
        """
        device = self.files.paired.get(device_id)
        if device is None:
            return None
        entry = (device.get("tokens") or {}).get(role)
        if entry is None and role not in _merge(device.get("roles"), device.get("role")):
            return None
        chosen = scopes if scopes is not None else (entry or {}).get("scopes") or device.get("scopes") or []
        if caller_scopes is not None:
            beyond = scopes_beyond(chosen, caller_scopes)
            if beyond:
                raise ScopeEscalation(beyond[0])
        return self._mint(device, role, list(chosen))

    def revoke_token(self, device_id: str, role: str) -> dict[str, Any] | None:
        entry = ((self.files.paired.get(device_id) or {}).get("tokens") or {}).get(role)
        if entry is None:
            return None
        entry["revokedAtMs"] = now_ms()
        return entry

    @staticmethod
    def _mint(device: dict[str, Any], role: str, scopes: list[str]) -> dict[str, Any]:
        now = now_ms()
        tokens = device.setdefault("tokens", {})
        previous = tokens.get(role)
        entry = _compact({
            "token": new_token(), "role": role, "scopes": scopes,
            "createdAtMs": previous["createdAtMs"] if previous else now, "rotatedAtMs": now if previous else None,
            "lastUsedAtMs": previous.get("lastUsedAtMs") if previous else None})
        tokens[role] = entry
        return entry

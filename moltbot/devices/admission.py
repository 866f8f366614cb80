"""The connect-time decision for device identities, shared secrets and device tokens.

Theory of operation, in the original's order (after the handshake's schema, protocol and role rules):

Every refusal carries protocol 4's ``details.code`` (at every version; ``details`` is free-form): Rule 1
CONTROL_UI_DEVICE_IDENTITY_REQUIRED, Rule 2 DEVICE_IDENTITY_REQUIRED, Rule 3 ``DEVICE_AUTH_*`` with
``details.reason``, Rule 4 ``AUTH_*`` with ``authReason``/``canRetryWithDeviceToken``/``recommendedNextStep``
(``gateway.auth``), Rule 5 PAIRING_REQUIRED with ``reason`` (not-paired, role-upgrade, scope-upgrade),
``requestId``, ``deviceId``, ``requestedRole``, ``requestedScopes``.

Rule 1. Control UI without a device is refused "control ui requires HTTPS or localhost (secure context)"
        unless ``gateway.controlUi.allowInsecureAuth`` (then a token or password suffices) or
        ``dangerouslyDisableDeviceAuth`` (then the device is ignored altogether).
Rule 2. No device: allowed only with ``auth.token`` (a password alone is not enough), else NOT_PAIRED
        "device identity required". The token is then checked like any shared secret. At protocol 4 a
        ``node`` needs a device even with the right token (OpenClaw's ``roleCanSkipDeviceIdentity``: only
        an operator may skip it): a wrong token is still "unauthorized", a right one NOT_PAIRED "device
        identity required". 3 and 7 keep admitting a device-less node with the token.
Rule 2b. A device-less connect keeps the scopes it declared only when it is a local client that is no
        browser (no ``Origin``), or the Control UI under ``allowInsecureAuth``/``dangerouslyDisable
        DeviceAuth`` from its own origin; any other (remote, or a browser) gets none (GHSA-rqpp-rjj8-7wv8:
        scopes are bound to what the client may hold). At protocol 4, as OpenClaw, local kinds other
        than ``cli``/``cli`` and ``gateway-client``/``backend`` are cleared too (``_scopes.grant_scopes``).
Rule 3. A device's proof is checked (``protocol._device.check_device_proof``: identity, skew, nonce,
        signature, key).
Rule 4. A Tailscale identity tailscaled confirmed (``gateway.auth``'s ``tailscale_identity``) stands in
        for the secret (method ``tailscale``; Rules 1, 2, 3 and 5 still apply: a device-less client still
        sends a token, as in the original, and a device still pairs). Otherwise the shared secret is checked; if that fails and the client sent ``auth.token``, the token may be
        the device's own token for this role (live, equal, covering the scopes): a device token. A client
        that sends only ``auth.deviceToken`` (protocol 4's retry after ``retry_with_device_token``) has
        that checked the same way ("unauthorized: device token mismatch …" when it is not). A lockout
        refuses both, and a failed device token counts like a failed secret (PR #57647).
Rule 5. A device that is not paired for this role and these scopes (or whose key changed) needs pairing:
        local-direct clients (not browsers, except the own Control UI) are approved silently on the spot (``device.pair.resolved``); others get
        NOT_PAIRED "pairing required" with ``details.requestId`` and close 1008, and operators holding
        ``operator.pairing`` see ``device.pair.requested`` (once per request).
Rule 6. A paired device gets its token for this role in ``hello-ok.auth`` (the live one if it covers the
        scopes, else a new one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs

from ..config.model import GatewayConfig
from ..protocol import (
    CLOSE_POLICY_VIOLATION,
    INVALID_REQUEST,
    NOT_PAIRED,
    Accept,
    DevicePairResolved,
    HelloAuth,
    RemoteProtocolError,
    grant_scopes,
)
from .pairing import DevicePairing, request_view
from .store import now_ms

CONTROL_UI_CLIENT_ID = "moltbot-control-ui"
# Ours, today's OpenClaw's and the January original's Control UI: one kind, whichever build it is.
CONTROL_UI_CLIENT_IDS = frozenset({CONTROL_UI_CLIENT_ID, "openclaw-control-ui", "clawdbot-control-ui"})

Emit = Callable[[str, Any], None]


class SharedSecretCheck(Protocol):
    def check(self, params: Any, address: str, *, origin: str | None = None, direct: bool = False,
              alternative: Callable[[], bool] | None = None, identity: Any = None) -> str: ...

    def check_device_token(self, valid: Callable[[], bool], address: str, *, origin: str | None = None,
                           direct: bool = False) -> str: ...


def _refuse(code: str, message: str, detail_code: str, **details: Any) -> RemoteProtocolError:
    return RemoteProtocolError(code, message, close_code=CLOSE_POLICY_VIOLATION,
                               details={"code": detail_code, **details})


def _client_meta(accept: Accept, remote_ip: str | None) -> dict[str, Any]:
    client = accept.params.client
    return {"displayName": client.display_name, "platform": client.platform, "clientId": client.id,
            "clientMode": client.mode, "remoteIp": remote_ip}


async def admit(accept: Accept, *, challenge_nonce: str, local: bool, peer: str, remote_ip: str | None,
                gateway: GatewayConfig, secrets: SharedSecretCheck, pairing: DevicePairing, emit: Emit,
                origin: str | None = None, own_origin: bool = False, direct: bool = False,
                identity: Any = None) -> Accept:
    """Authenticate and pair one ``connect``; return ``accept`` (with ``device_auth`` for a paired device).

    ``peer`` is the address auth failures count against (the forwarded client behind a trusted proxy).
    ``origin`` is the browser's ``Origin`` (None: not a browser), ``own_origin`` whether it is the
    gateway's own Control UI origin, both as the Host/Origin guard judged them (``RequestFacts``): only
    local clients that are not browsers, or are the own Control UI, are paired silently. ``direct``: local
    and through no trusted proxy, the only clients the limiter exempts (no Origin) or keys per Origin.
    ``identity``: the verified Tailscale user behind the request, if any (Rule 4).

    Raises:
        RemoteProtocolError: the refusal to send, with its close code.
    """
    params = accept.params
    is_control_ui = params.client.id in CONTROL_UI_CLIENT_IDS
    disable_device = is_control_ui and gateway.control_ui.dangerously_disable_device_auth
    bypass = is_control_ui and (gateway.control_ui.allow_insecure_auth or disable_device)
    device = None if disable_device else params.device
    token = params.auth.token if params.auth else None
    if device is None:
        if is_control_ui and not bypass:
            raise _refuse(INVALID_REQUEST, "control ui requires HTTPS or localhost (secure context)",
                          "CONTROL_UI_DEVICE_IDENTITY_REQUIRED")
        has_secret = bool(token) or (bypass and bool(params.auth and params.auth.password))
        if not has_secret:
            raise _refuse(NOT_PAIRED, "device identity required", "DEVICE_IDENTITY_REQUIRED")
        method = secrets.check(params, peer, origin=origin, direct=direct, identity=identity)
        if accept.role == "node" and accept.protocol == 4:
            raise _refuse(NOT_PAIRED, "device identity required", "DEVICE_IDENTITY_REQUIRED")
        # Rule 2b: self-declared scopes need a device here
        return attrs.evolve(accept, auth_method=method, scopes=grant_scopes(
            accept.protocol, accept.role, params.scopes, client_id=params.client.id, client_mode=params.client.mode,
            device_less=True, local=local, has_origin=origin is not None, ui_bypass=bypass and own_origin))
    from ..protocol import check_device_proof  # Ed25519 (cryptography) loads with the first device's connect

    public_key = check_device_proof(params, role=accept.role, challenge_nonce=challenge_nonce, now_ms=now_ms(),
                                    local=local, protocol=accept.protocol)
    method = _check_credentials(accept, device.id, peer, secrets, pairing, origin=origin, direct=direct,
                                identity=identity)
    local = local and (origin is None or own_origin)  # Rule 5: no silent pairing for other browsers
    meta = _client_meta(accept, remote_ip)
    reason = pairing.upgrade_reason(device.id, public_key, accept.role, accept.scopes)
    if reason is not None:
        request, created = pairing.request(device_id=device.id, public_key=public_key, role=accept.role,
                                           scopes=accept.scopes, meta=meta, silent=local)
        if not local:
            await pairing.save()
            if created:
                emit("device.pair.requested", request_view(request))
            raise _refuse(NOT_PAIRED, "pairing required", "PAIRING_REQUIRED", reason=reason,
                          requestId=request["requestId"], deviceId=device.id, requestedRole=accept.role,
                          requestedScopes=list(accept.scopes))
        pairing.approve(request["requestId"], via="silent")
        emit("device.pair.resolved", DevicePairResolved(request_id=request["requestId"], device_id=device.id,
                                                        decision="approved", ts=now_ms()))
    else:
        pairing.update_metadata(device.id, meta)
    entry = pairing.ensure_token(device.id, accept.role, accept.scopes)
    await pairing.save()
    issued = entry.get("rotatedAtMs") or entry.get("createdAtMs")
    return attrs.evolve(accept, auth_method=method,
                        device_auth=HelloAuth(device_token=entry["token"], role=accept.role,
                                              scopes=list(entry.get("scopes") or []), issued_at_ms=issued))


def _check_credentials(accept: Accept, device_id: str, peer: str, secrets: SharedSecretCheck,
                       pairing: DevicePairing, *, origin: str | None, direct: bool, identity: Any = None) -> str:
    """Rule 4 for a device: a verified Tailscale identity, the shared secret (or ``auth.token`` as its device
    token), else a lone ``auth.deviceToken``. Returns the auth method."""
    if identity is not None:
        return secrets.check(accept.params, peer, origin=origin, direct=direct, identity=identity)
    auth = accept.params.auth
    token = auth.token if auth else None
    device_token = auth.device_token if auth else None
    if device_token and not token and not (auth is not None and auth.password):
        return secrets.check_device_token(
            lambda: pairing.verify_token(device_id, device_token, accept.role, accept.scopes), peer,
            origin=origin, direct=direct)
    return secrets.check(accept.params, peer, origin=origin, direct=direct,
                         alternative=lambda: token is not None and bool(token)
                         and pairing.verify_token(device_id, token, accept.role, accept.scopes))

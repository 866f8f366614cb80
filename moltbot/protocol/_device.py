"""Device identity on the wire, as the original signs and checks it: Ed25519 keys, the signed
``v1``/``v2``/``v3`` payloads, and the server's checks, all without I/O.

Theory of operation. A device is an Ed25519 key pair; its id is the lowercase hex SHA-256 of the raw
32-byte public key. At connect the client signs one of

    v2|<deviceId>|<clientId>|<clientMode>|<role>|<scopesCSV>|<signedAtMs>|<token>|<nonce>
    v3|<deviceId>|<clientId>|<clientMode>|<role>|<scopesCSV>|<signedAtMs>|<token>|<nonce>|<platform>|<deviceFamily>

(``v1`` is ``v2`` without ``|<nonce>``, protocol 3 and 7 only) with ``scopesCSV`` the scopes it *asked for*
(not what was granted), ``token`` its ``auth.token`` ?? ``auth.deviceToken`` ?? ``auth.bootstrapToken`` ??
the empty string, and in ``v3`` the ``client.platform``/``client.deviceFamily`` trimmed with ASCII A–Z
lower-cased (empty when absent). ``v3`` is what OpenClaw's own gateway client signs; ``v2`` what its
Control UI and our client sign. Every version accepts both. The server checks, in order, each failing
INVALID_REQUEST + close 1008 with ``details {code, reason}`` as protocol 4 has them:

Rule 1. the id derived from ``publicKey`` equals ``device.id``      "device identity mismatch"
        DEVICE_AUTH_DEVICE_ID_MISMATCH / device-id-mismatch
Rule 2. ``|now − signedAt|`` within the skew: 120 000 ms at protocol 4, 600 000 ms at 3 and 7
        "device signature expired"  DEVICE_AUTH_SIGNATURE_EXPIRED / device-signature-stale
Rule 3. a nonce was sent: always at protocol 4; at 3 and 7 unless the client is local-direct
        "device nonce required"     DEVICE_AUTH_NONCE_REQUIRED / device-nonce-missing
Rule 4. a nonce, when sent, is this connection's challenge nonce
        "device nonce mismatch"     DEVICE_AUTH_NONCE_MISMATCH / device-nonce-mismatch
Rule 5. the signature verifies over ``v3``, else ``v2`` (nonce sent) or ``v1`` (none)
        "device signature invalid"  DEVICE_AUTH_SIGNATURE_INVALID / device-signature
Rule 6. the public key is a usable Ed25519 key
        "device public key invalid" DEVICE_AUTH_PUBLIC_KEY_INVALID / device-public-key

Public keys travel as base64url raw keys (a PEM SPKI key is accepted too); signatures as base64url (plain
base64 accepted).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._errors import CLOSE_POLICY_VIOLATION, INVALID_REQUEST, RemoteProtocolError
from ._payloads.connect import ConnectParams

__all__ = [
    "SIGNATURE_SKEW_MS",
    "SIGNATURE_SKEW_MS_V4",
    "DeviceKeyPair",
    "b64url_decode",
    "b64url_encode",
    "check_device_proof",
    "derive_device_id",
    "device_auth_payload",
    "device_auth_payload_v3",
    "normalize_device_field",
    "signature_skew_ms",
    "public_key_raw",
    "sign_connect",
    "signed_token",
    "verify_device_signature",
]

SIGNATURE_SKEW_MS = 10 * 60 * 1000  # protocol 3 and 7 (the January original's)
SIGNATURE_SKEW_MS_V4 = 2 * 60 * 1000  # protocol 4 (OpenClaw's DEVICE_SIGNATURE_SKEW_MS)
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url or standard base64, padded or not. Raises ``ValueError``."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


# The DER an Ed25519 key is stored in, up to the key's 32 bytes: PKCS#8 for the private key, SubjectPublicKeyInfo for
# the public key (RFC 8410). PEM in exactly these forms is read without ``cryptography``'s serialization module
# (which imports every key type, SSH's included: most of what a CLI command pays for Ed25519); any other form
# goes to it.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
_SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")


def _ed25519_der_key(pem: str, label: str, prefix: bytes) -> bytes | None:
    """The 32 key bytes of a one-block PEM ``label`` holding ``prefix`` + 32 bytes, else ``None``."""
    lines = pem.strip().splitlines()
    if len(lines) < 3 or lines[0] != f"-----BEGIN {label}-----" or lines[-1] != f"-----END {label}-----":
        return None
    try:
        der = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    return der[len(prefix):] if len(der) == len(prefix) + 32 and der.startswith(prefix) else None


def public_key_raw(public_key: str) -> bytes | None:
    """The raw key bytes of a wire ``publicKey`` (base64url raw, or PEM SPKI), or ``None``."""
    text = public_key.strip()
    if text.startswith("-----BEGIN"):
        if (raw := _ed25519_der_key(text, "PUBLIC KEY", _SPKI_ED25519)) is not None:
            return raw
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError):
            return None
        if not isinstance(key, Ed25519PublicKey):
            return None
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = b64url_decode(text)
    except ValueError:
        return None
    if len(raw) == len(_SPKI_ED25519_PREFIX) + 32 and raw.startswith(_SPKI_ED25519_PREFIX):
        return raw[len(_SPKI_ED25519_PREFIX):]
    return raw or None


def derive_device_id(public_key: str) -> str | None:
    """Lowercase hex SHA-256 of the raw public key, or ``None`` if the key does not decode."""
    raw = public_key_raw(public_key)
    return hashlib.sha256(raw).hexdigest() if raw is not None else None


def signature_skew_ms(protocol: int) -> int:
    """Rule 2's bound for a connection at ``protocol``."""
    return SIGNATURE_SKEW_MS_V4 if protocol == 4 else SIGNATURE_SKEW_MS


def device_auth_payload(*, device_id: str, client_id: str, client_mode: str, role: str, scopes: list[str],
                        signed_at_ms: int, token: str | None, nonce: str | None) -> str:
    """The exact text a device signs (``v2`` with a nonce, ``v1`` without)."""
    fields = ["v2" if nonce else "v1", device_id, client_id, client_mode, role, ",".join(scopes),
              str(signed_at_ms), token or ""]
    if nonce:
        fields.append(nonce)
    return "|".join(fields)


def normalize_device_field(value: str | None) -> str:
    """``client.platform``/``deviceFamily`` as ``v3`` signs them: trimmed, ASCII A–Z lower-cased (only
    ASCII, as OpenClaw does: a locale-dependent lower-casing would make signatures differ by machine)."""
    return (value or "").strip().translate(_ASCII_UPPER)


def device_auth_payload_v3(*, device_id: str, client_id: str, client_mode: str, role: str, scopes: list[str],
                           signed_at_ms: int, token: str | None, nonce: str, platform: str | None,
                           device_family: str | None) -> str:
    """The ``v3`` text (protocol 4's, accepted at every version): ``v2`` plus platform and device family."""
    return "|".join(["v3", device_id, client_id, client_mode, role, ",".join(scopes), str(signed_at_ms),
                     token or "", nonce, normalize_device_field(platform), normalize_device_field(device_family)])


def _ed25519_key(public_key: str) -> Ed25519PublicKey | None:
    raw = public_key_raw(public_key)
    if raw is None or len(raw) != 32:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def verify_device_signature(public_key: str, payload: str, signature: str) -> bool:
    """True iff ``signature`` (base64url/base64) is a valid Ed25519 signature of ``payload``."""
    key = _ed25519_key(public_key)
    if key is None:
        return False
    try:
        key.verify(b64url_decode(signature), payload.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


def _refuse(message: str, code: str, reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(INVALID_REQUEST, message, details={"code": code, "reason": reason},
                               close_code=CLOSE_POLICY_VIOLATION)


def signed_token(params: ConnectParams) -> str | None:
    """The credential a device signs over: ``auth.token`` ?? ``auth.deviceToken`` ?? ``auth.bootstrapToken``."""
    auth = params.auth
    if auth is None:
        return None
    return auth.token or auth.device_token or auth.bootstrap_token or None


def _signature_valid(params: ConnectParams, role: str, nonce: str) -> bool:
    """Rule 5: ``v3`` first (with a nonce), then ``v2``/``v1``."""
    device = params.device
    assert device is not None
    common: dict[str, Any] = {"device_id": device.id, "client_id": params.client.id, "client_mode": params.client.mode,
              "role": role, "scopes": list(params.scopes or []), "signed_at_ms": device.signed_at,
              "token": signed_token(params)}
    if nonce:
        v3 = device_auth_payload_v3(**common, nonce=nonce, platform=params.client.platform,
                                    device_family=params.client.device_family)
        if verify_device_signature(device.public_key, v3, device.signature):
            return True
    return verify_device_signature(device.public_key, device_auth_payload(**common, nonce=nonce or None),
                                   device.signature)


def check_device_proof(params: ConnectParams, *, role: str, challenge_nonce: str, now_ms: int,
                       local: bool, protocol: int = 7) -> str:
    """Apply rules 1–6 to ``params.device`` at ``protocol``; return the normalized (base64url raw) public key.

    Raises:
        RemoteProtocolError: the first rule that fails, with the reference's message, protocol 4's
            ``details {code, reason}`` and close 1008.
    """
    device = params.device
    assert device is not None
    if derive_device_id(device.public_key) != device.id:
        raise _refuse("device identity mismatch", "DEVICE_AUTH_DEVICE_ID_MISMATCH", "device-id-mismatch")
    if abs(now_ms - device.signed_at) > signature_skew_ms(protocol):
        raise _refuse("device signature expired", "DEVICE_AUTH_SIGNATURE_EXPIRED", "device-signature-stale")
    nonce = (device.nonce or "").strip()
    if not nonce and (protocol == 4 or not local):
        raise _refuse("device nonce required", "DEVICE_AUTH_NONCE_REQUIRED", "device-nonce-missing")
    if nonce and nonce != challenge_nonce:
        raise _refuse("device nonce mismatch", "DEVICE_AUTH_NONCE_MISMATCH", "device-nonce-mismatch")
    if not _signature_valid(params, role, nonce):
        raise _refuse("device signature invalid", "DEVICE_AUTH_SIGNATURE_INVALID", "device-signature")
    raw = public_key_raw(device.public_key)
    if raw is None or len(raw) != 32:
        raise _refuse("device public key invalid", "DEVICE_AUTH_PUBLIC_KEY_INVALID", "device-public-key")
    return b64url_encode(raw)


@attrs.frozen(repr=False)
class DeviceKeyPair:
    """An Ed25519 identity: ``device_id``, the wire ``public_key``, and ``sign``. Never repr'd (secret)."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKeyPair:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_pem(cls, pem: str) -> DeviceKeyPair:
        if (seed := _ed25519_der_key(pem, "PRIVATE KEY", _PKCS8_ED25519)) is not None:
            return cls(Ed25519PrivateKey.from_private_bytes(seed))
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls(key)

    def __repr__(self) -> str:
        return f"DeviceKeyPair(device_id={self.device_id!r})"

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def public_key(self) -> str:
        """The wire form: base64url of the raw 32-byte key."""
        return b64url_encode(self.public_raw)

    @property
    def device_id(self) -> str:
        return hashlib.sha256(self.public_raw).hexdigest()

    def private_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii")

    def public_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def sign(self, payload: str) -> str:
        """Base64url Ed25519 signature of ``payload`` (UTF-8)."""
        return b64url_encode(self.private_key.sign(payload.encode("utf-8")))


def sign_connect(key: DeviceKeyPair, params: dict[str, Any], *, nonce: str | None,
                 signed_at_ms: int | None = None, payload_version: str = "v2") -> dict[str, Any]:
    """The ``device`` block for the JSON connect ``params`` about to be sent (signed over ``nonce``).

    ``payload_version`` ``"v3"`` signs the protocol 4 payload (it needs a nonce); ``"v2"`` (``v1``
    without a nonce) is what every gateway version accepts.
    """
    signed_at = int(time.time() * 1000) if signed_at_ms is None else signed_at_ms
    client = params.get("client") or {}
    auth = params.get("auth") or {}
    common: dict[str, Any] = {"device_id": key.device_id, "client_id": client.get("id", ""), "client_mode": client.get("mode", ""),
              "role": params.get("role") or "operator", "scopes": list(params.get("scopes") or []),
              "signed_at_ms": signed_at,
              "token": auth.get("token") or auth.get("deviceToken") or auth.get("bootstrapToken")}
    if payload_version == "v3":
        if not nonce:
            raise ValueError("a v3 device signature needs the challenge nonce")
        payload = device_auth_payload_v3(**common, nonce=nonce, platform=client.get("platform"),
                                         device_family=client.get("deviceFamily"))
    else:
        payload = device_auth_payload(**common, nonce=nonce)
    block: dict[str, Any] = {"id": key.device_id, "publicKey": key.public_key, "signature": key.sign(payload),
                             "signedAt": signed_at}
    if nonce:
        block["nonce"] = nonce
    return block

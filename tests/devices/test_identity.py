"""Device identity, sans-IO: key ⇄ id, the signed payload, and each rule of the server's check in order."""

from __future__ import annotations

import hashlib
import json

import attrs
import pytest

from moltbot.protocol import ConnectParams, RemoteProtocolError, structure
from moltbot.protocol._device import (
    SIGNATURE_SKEW_MS,
    DeviceKeyPair,
    b64url_encode,
    check_device_proof,
    derive_device_id,
    device_auth_payload,
    public_key_raw,
    sign_connect,
    verify_device_signature,
)

NOW = 1_800_000_000_000
NONCE = "nonce-1"


def _params(key: DeviceKeyPair, *, nonce: str | None = NONCE, signed_at: int = NOW, **overrides) -> ConnectParams:
    raw = {"minProtocol": 3, "maxProtocol": 3, "role": "node", "scopes": [],
           "client": {"id": "node-host", "version": "1", "platform": "linux", "mode": "node"},
           "auth": {"token": "tok"}}
    raw.update(overrides)
    raw["device"] = sign_connect(key, raw, nonce=nonce, signed_at_ms=signed_at)
    return structure(raw, ConnectParams, what="connect params")


def _check(params: ConnectParams, *, local: bool = False, now: int = NOW) -> str:
    return check_device_proof(params, role=params.role or "operator", challenge_nonce=NONCE, now_ms=now, local=local)


def _refusal(params: ConnectParams, **kwargs) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        _check(params, **kwargs)
    assert info.value.code == "INVALID_REQUEST" and info.value.close_code == 1008
    return info.value.message


def test_device_id_is_sha256_of_raw_public_key_in_any_encoding():
    key = DeviceKeyPair.generate()
    expected = hashlib.sha256(key.public_raw).hexdigest()
    assert key.device_id == expected
    assert derive_device_id(key.public_key) == expected
    assert derive_device_id(key.public_pem()) == expected
    assert derive_device_id("!!!not base64") is None


def test_payload_v2_with_nonce_v1_without():
    common = dict(device_id="d", client_id="cli", client_mode="cli", role="operator",
                  scopes=["operator.admin", "operator.pairing"], signed_at_ms=5, token=None)
    assert device_auth_payload(**common, nonce="n") == "v2|d|cli|cli|operator|operator.admin,operator.pairing|5||n"
    assert device_auth_payload(**common, nonce=None) == "v1|d|cli|cli|operator|operator.admin,operator.pairing|5|"


def test_signature_verifies_and_accepts_standard_base64():
    key = DeviceKeyPair.generate()
    signature = key.sign("hello")
    assert verify_device_signature(key.public_key, "hello", signature)
    padded = signature.replace("-", "+").replace("_", "/") + "=" * (-len(signature) % 4)
    assert verify_device_signature(key.public_key, "hello", padded)
    assert not verify_device_signature(key.public_key, "hullo", signature)


def test_valid_proof_returns_the_normalized_public_key():
    key = DeviceKeyPair.generate()
    assert _check(_params(key)) == key.public_key
    assert _check(_params(key, nonce=None), local=True) == key.public_key  # local-direct may sign v1


def test_identity_mismatch_comes_first():
    params = _params(DeviceKeyPair.generate(), signed_at=0)
    forged = attrs.evolve(params, device=attrs.evolve(params.device, id="0" * 64))
    assert _refusal(forged) == "device identity mismatch"


def test_signature_older_than_ten_minutes_is_expired():
    key = DeviceKeyPair.generate()
    assert _refusal(_params(key, signed_at=NOW - SIGNATURE_SKEW_MS - 1)) == "device signature expired"
    assert _refusal(_params(key, signed_at=NOW + SIGNATURE_SKEW_MS + 1)) == "device signature expired"
    assert _check(_params(key, signed_at=NOW - SIGNATURE_SKEW_MS)) == key.public_key


def test_remote_client_must_send_the_challenge_nonce():
    key = DeviceKeyPair.generate()
    assert _refusal(_params(key, nonce=None)) == "device nonce required"
    assert _refusal(_params(key, nonce="replayed-nonce")) == "device nonce mismatch"
    assert _refusal(_params(key, nonce="replayed-nonce"), local=True) == "device nonce mismatch"


def test_forged_signature_is_invalid():
    key, other = DeviceKeyPair.generate(), DeviceKeyPair.generate()
    params = _params(key)
    forged = attrs.evolve(params, device=attrs.evolve(params.device, signature=other.sign("x")))
    assert _refusal(forged) == "device signature invalid"


def test_signature_covers_role_scopes_and_token():
    key = DeviceKeyPair.generate()
    params = _params(key)
    for change in ({"role": "operator"}, {"scopes": ["operator.admin"]}):
        assert _refusal(attrs.evolve(params, **change)) == "device signature invalid"
    assert _refusal(attrs.evolve(params, auth=None)) == "device signature invalid"


def test_key_that_is_not_ed25519_sized_is_refused():
    raw = b"\x01" * 31
    params = _params(DeviceKeyPair.generate())
    bad = attrs.evolve(params, device=attrs.evolve(params.device, public_key=b64url_encode(raw),
                                                   id=hashlib.sha256(raw).hexdigest()))
    assert _refusal(bad) == "device signature invalid"


def test_key_pair_round_trips_through_pem_and_hides_its_secret():
    key = DeviceKeyPair.generate()
    again = DeviceKeyPair.from_private_pem(key.private_pem())
    assert again.device_id == key.device_id
    assert "PRIVATE" not in repr(key) and key.device_id in repr(key)


def test_pem_keys_read_without_the_serialization_module_are_the_keys_it_reads():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    key = DeviceKeyPair.generate()
    for pem in (key.private_pem(), key.private_pem().replace("\n", "\r\n"), "\n" + key.private_pem() + "\n"):
        assert DeviceKeyPair.from_private_pem(pem).device_id == key.device_id
    assert public_key_raw(key.public_pem()) == key.public_raw == public_key_raw(key.public_key)
    # any other form goes to cryptography's reader, which refuses what is not an Ed25519 key as before
    other = generate_private_key(SECP256R1())
    other_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        DeviceKeyPair.from_private_pem(other_pem)
    other_public = other.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert public_key_raw(other_public) is None
    with pytest.raises(ValueError):
        DeviceKeyPair.from_private_pem(key.private_pem().replace("MC4C", "MC5C"))


def test_roles_stored_at_once_by_several_writers_are_all_kept(tmp_path):
    """``moltbot node run`` and an operator command of the same device each store their role's token in
    the same file: a read-modify-write of one must not drop the other's (it did: a CLI test lost "node")."""
    import threading

    from moltbot.devices.identity import DeviceAuthStore

    path = tmp_path / "identity" / "device-auth.json"
    roles = [f"role{index}" for index in range(8)]

    def writer(role: str) -> None:
        store = DeviceAuthStore(path)  # one store object per writer, as per process
        for round_ in range(15):
            store.store("dev1", role, f"{role}-{round_}", [])

    threads = [threading.Thread(target=writer, args=(role,)) for role in roles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(json.loads(path.read_text())["tokens"]) == roles

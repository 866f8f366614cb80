"""Device proofs at connect over real sockets: v3 beside v2 at every version, protocol 4's nonce and skew
rules, the device refusals (message, details.code, details.reason) in their order, and auth.deviceToken."""

from __future__ import annotations

import time

import pytest
import trio

from moltbot.protocol._device import DeviceKeyPair, device_auth_payload_v3
from tests.conftest import TOKEN, open_raw
from tests.nodes.helpers import REMOTE
from tests.v4.handshake_support import connect_params, request, signed

# (client.id, client.mode, role) of the signing kinds: a node host and the OpenClaw CLI with a device.
SIGNERS = [("node-host", "node", "node"), ("cli", "cli", "operator")]


async def _connect(url: str, build, *, headers=None) -> tuple[dict, tuple[int, str] | None]:
    """Send ``build(nonce)`` as the connect; return the response and the close (when refused)."""
    with trio.fail_after(10):
        async with open_raw(url, extra_headers=headers) as ws:
            await ws.send(request(build(ws.challenge["payload"]["nonce"])))
            response = await ws.response("c1")
            return response, (None if response["ok"] else await ws.closed())


def _params(protocol: int, kind=SIGNERS[0], **kwargs):
    client_id, mode, role = kind
    scopes = [] if role == "node" else ["operator.read"]
    return connect_params((protocol, protocol), client_id=client_id, mode=mode, role=role, scopes=scopes, **kwargs)


@pytest.mark.parametrize("protocol", [3, 4, 7])
@pytest.mark.parametrize("version", ["v2", "v3"])
@pytest.mark.parametrize("kind", SIGNERS)
async def test_v2_and_v3_signatures_are_accepted_at_every_version(gateway, protocol, version, kind):
    key = DeviceKeyPair.generate()
    params = _params(protocol, kind, deviceFamily="Linux")
    response, _ = await _connect(gateway.url, lambda nonce: signed(params, key, nonce, version=version))
    assert response["ok"], response
    assert response["payload"]["auth"]["deviceToken"]


async def test_v3_signs_platform_and_device_family_trimmed_and_ascii_lowercased(gateway):
    key = DeviceKeyPair.generate()
    params = _params(4, platform="  Linux X86_64 ", deviceFamily="MacBookPro\u00c9")

    def build(nonce: str) -> dict:
        signed_at = int(time.time() * 1000)
        payload = device_auth_payload_v3(device_id=key.device_id, client_id="node-host", client_mode="node",
                                         role="node", scopes=[], signed_at_ms=signed_at, token=TOKEN, nonce=nonce,
                                         platform=params["client"]["platform"],
                                         device_family=params["client"]["deviceFamily"])
        assert payload.endswith("|linux x86_64|macbookpro\u00c9")  # ASCII only: É stays
        return signed(params, key, nonce, signature=key.sign(payload), signedAt=signed_at)

    response, _ = await _connect(gateway.url, build)
    assert response["ok"], response


async def test_v3_over_the_raw_platform_text_is_refused(gateway):
    key = DeviceKeyPair.generate()
    params = _params(4, platform="Linux")

    def build(nonce: str) -> dict:
        signed_at = int(time.time() * 1000)
        raw = f"v3|{key.device_id}|node-host|node|node||{signed_at}|{TOKEN}|{nonce}|Linux|"
        return signed(params, key, nonce, signature=key.sign(raw), signedAt=signed_at)

    response, closed = await _connect(gateway.url, build)
    assert response["error"]["details"] == {"code": "DEVICE_AUTH_SIGNATURE_INVALID", "reason": "device-signature"}
    assert closed == (1008, "device signature invalid")


def _refusal(message: str, code: str, reason: str) -> dict:
    return {"code": "INVALID_REQUEST", "message": message, "details": {"code": code, "reason": reason}}


ID_MISMATCH = _refusal("device identity mismatch", "DEVICE_AUTH_DEVICE_ID_MISMATCH", "device-id-mismatch")
EXPIRED = _refusal("device signature expired", "DEVICE_AUTH_SIGNATURE_EXPIRED", "device-signature-stale")
NONCE_REQUIRED = _refusal("device nonce required", "DEVICE_AUTH_NONCE_REQUIRED", "device-nonce-missing")
NONCE_MISMATCH = _refusal("device nonce mismatch", "DEVICE_AUTH_NONCE_MISMATCH", "device-nonce-mismatch")
SIGNATURE_INVALID = _refusal("device signature invalid", "DEVICE_AUTH_SIGNATURE_INVALID", "device-signature")
def stale_ms() -> int:
    """A signing time past protocol 4's 2 minutes and within 3/7's 10, taken when the connect is built (not at
    import: a long test run would otherwise push it past 10 minutes)."""
    return int(time.time() * 1000) - 200_000


def _cases():
    """(name, protocol, build(key, other, nonce), expected error or None for accepted). Each case breaks
    its rule and every later one, so the order of the checks is what decides the answer."""
    def id_mismatch(key, other, nonce):
        return signed(_params(4), key, "other", signed_at_ms=stale_ms(), id=other.device_id)

    def stale(key, other, nonce):
        return signed(_params(4), key, "other", signed_at_ms=stale_ms(), signature=other.sign("x"))

    def no_nonce(key, other, nonce):
        return signed(_params(4), key, None, signature=other.sign("x"))

    def wrong_nonce(key, other, nonce):
        return signed(_params(4), key, "other", signature=other.sign("x"))

    def bad_signature(key, other, nonce):
        return signed(_params(4), key, nonce, signature=other.sign("x"))

    return [
        ("id mismatch", id_mismatch, ID_MISMATCH),
        ("stale at 4", stale, EXPIRED),
        ("no nonce at 4, local", no_nonce, NONCE_REQUIRED),
        ("nonce mismatch", wrong_nonce, NONCE_MISMATCH),
        ("signature", bad_signature, SIGNATURE_INVALID),
    ]


@pytest.mark.parametrize(("name", "build", "expected"), _cases(), ids=[case[0] for case in _cases()])
async def test_device_proof_refusals_in_order_at_4(gateway, name, build, expected):
    key, other = DeviceKeyPair.generate(), DeviceKeyPair.generate()
    response, closed = await _connect(gateway.url, lambda nonce: build(key, other, nonce))
    assert response["error"] == expected
    assert closed == (1008, expected["message"])


@pytest.mark.parametrize("protocol", [3, 7])
async def test_3_and_7_keep_the_10_minute_skew_and_the_local_nonce_less_v1(gateway, protocol):
    key = DeviceKeyPair.generate()
    stale, _ = await _connect(gateway.url, lambda nonce: signed(_params(protocol), key, nonce, signed_at_ms=stale_ms()))
    assert stale["ok"], stale
    v1, _ = await _connect(gateway.url, lambda nonce: signed(_params(protocol), key, None))
    assert v1["ok"], v1


@pytest.mark.parametrize("protocol", [3, 7])
async def test_3_and_7_refusals_carry_the_same_details(gateway, protocol):
    key, other = DeviceKeyPair.generate(), DeviceKeyPair.generate()
    response, _ = await _connect(gateway.url, lambda nonce: signed(_params(protocol), key, nonce,
                                                                   signature=other.sign("x")))
    assert response["error"] == SIGNATURE_INVALID


async def test_remote_nonce_less_connect_is_refused_at_7_too(gateway):
    key = DeviceKeyPair.generate()
    response, _ = await _connect(gateway.url, lambda nonce: signed(_params(7), key, None), headers=REMOTE)
    assert response["error"] == NONCE_REQUIRED


@pytest.mark.parametrize("protocol", [3, 4, 7])
async def test_device_token_alone_is_a_credential(gateway, protocol):
    key = DeviceKeyPair.generate()
    first, _ = await _connect(gateway.url, lambda nonce: signed(_params(protocol), key, nonce))
    token = first["payload"]["auth"]["deviceToken"]
    params = _params(protocol, auth={"deviceToken": token})
    again, _ = await _connect(gateway.url, lambda nonce: signed(params, key, nonce, version="v3"))
    assert again["ok"], again
    if protocol == 4:
        assert again["payload"]["auth"]["method"] == "device-token"
    wrong = _params(protocol, auth={"deviceToken": "not-" + token})
    refused, closed = await _connect(gateway.url, lambda nonce: signed(wrong, key, nonce))
    message = "unauthorized: device token mismatch (rotate/reissue device token)"
    assert refused["error"] == {"code": "INVALID_REQUEST", "message": message, "details": {
        "code": "AUTH_DEVICE_TOKEN_MISMATCH", "authReason": "device_token_mismatch",
        "canRetryWithDeviceToken": False, "recommendedNextStep": "update_auth_credentials"}}
    assert closed == (1008, message)

"""Connect refusals carry protocol 4's details (code, authReason, canRetryWithDeviceToken,
recommendedNextStep) at every version, over real sockets."""

from __future__ import annotations

import pytest
import trio

from moltbot.config.model import AuthConfig, AuthRateLimit, ControlUiConfig
from moltbot.gateway.app import open_gateway
from moltbot.gateway.auth import NEXT_STEPS, RATE_LIMITED
from moltbot.protocol._device import DeviceKeyPair
from tests.conftest import TOKEN, open_raw
from tests.nodes.helpers import REMOTE
from tests.v4.handshake_support import connect_params, request, signed

VERSIONS = [3, 4, 7]
CLI_HINT = "set CLAWDBOT_GATEWAY_TOKEN or pass --token"


async def _refused(url: str, build, *, headers=None) -> tuple[dict, tuple[int, str]]:
    with trio.fail_after(10):
        async with open_raw(url, extra_headers=headers) as ws:
            await ws.send(request(build(ws.challenge["payload"]["nonce"])))
            response = await ws.response("c1")
            assert not response["ok"], response
            return response["error"], await ws.closed()


def _auth(code: str, reason: str, step: str, *, retry: bool = False) -> dict:
    return {"code": code, "authReason": reason, "canRetryWithDeviceToken": retry, "recommendedNextStep": step}


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_token_mismatch_says_update_auth_credentials(gateway, protocol):
    params = connect_params((protocol, protocol), scopes=["operator.read"], auth={"token": "wrong"})
    error, closed = await _refused(gateway.url, lambda nonce: params)
    message = f"unauthorized: gateway token mismatch ({CLI_HINT})"
    assert error == {"code": "INVALID_REQUEST", "message": message,
                     "details": _auth("AUTH_TOKEN_MISMATCH", "token_mismatch", "update_auth_credentials")}
    assert closed == (1008, message)


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_token_mismatch_with_a_device_says_retry_with_device_token(gateway, protocol):
    key = DeviceKeyPair.generate()
    params = connect_params((protocol, protocol), scopes=["operator.read"], auth={"token": "wrong"})
    error, _ = await _refused(gateway.url, lambda nonce: signed(params, key, nonce))
    assert error["details"] == _auth("AUTH_TOKEN_MISMATCH", "token_mismatch", "retry_with_device_token", retry=True)


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_token_missing_with_a_device_says_update_auth_configuration(gateway, protocol):
    key = DeviceKeyPair.generate()
    params = connect_params((protocol, protocol), scopes=["operator.read"], auth={})
    error, closed = await _refused(gateway.url, lambda nonce: signed(params, key, nonce))
    assert error["message"] == f"unauthorized: gateway token missing ({CLI_HINT})"
    assert error["details"] == _auth("AUTH_TOKEN_MISSING", "token_missing", "update_auth_configuration")


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_no_credentials_and_no_device_is_device_identity_required(gateway, protocol):
    params = connect_params((protocol, protocol), scopes=["operator.read"], auth={})
    error, closed = await _refused(gateway.url, lambda nonce: params)
    assert error == {"code": "NOT_PAIRED", "message": "device identity required",
                     "details": {"code": "DEVICE_IDENTITY_REQUIRED"}}
    assert closed == (1008, "device identity required")


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_password_refusals_name_the_password(make_config, protocol):
    config = make_config(auth=AuthConfig(mode="password", password="pw-0123456789"))
    async with open_gateway(config, port=0, env={}) as gateway:
        key = DeviceKeyPair.generate()
        wrong = connect_params((protocol, protocol), scopes=["operator.read"], auth={"password": "nope"})
        error, _ = await _refused(gateway.url, lambda nonce: signed(wrong, key, nonce))
        assert error["details"] == _auth("AUTH_PASSWORD_MISMATCH", "password_mismatch", "update_auth_credentials")
        missing = connect_params((protocol, protocol), scopes=["operator.read"], auth={})
        error, _ = await _refused(gateway.url, lambda nonce: signed(missing, key, nonce))
        assert error["details"] == _auth("AUTH_PASSWORD_MISSING", "password_missing", "update_auth_configuration")


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_rate_limited_says_wait_then_retry(make_config, protocol):
    config = make_config(auth=AuthConfig(token=TOKEN, rate_limit=AuthRateLimit(max_failures=1)))
    async with open_gateway(config, port=0, env={}) as gateway:
        params = connect_params((protocol, protocol), scopes=["operator.read"], auth={"token": "wrong"})
        await _refused(gateway.url, lambda nonce: params, headers=REMOTE)
        error, closed = await _refused(gateway.url, lambda nonce: params, headers=REMOTE)
    assert error["message"] == RATE_LIMITED and error["retryable"] is True and error["retryAfterMs"] > 0
    assert error["details"] == _auth("AUTH_RATE_LIMITED", "rate_limited", "wait_then_retry")
    assert closed == (1008, RATE_LIMITED)


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_pairing_required_names_the_request_and_the_reason(gateway, protocol):
    key = DeviceKeyPair.generate()
    params = connect_params((protocol, protocol), scopes=["operator.read"])
    error, closed = await _refused(gateway.url, lambda nonce: signed(params, key, nonce), headers=REMOTE)
    details = error["details"]
    assert (error["code"], error["message"]) == ("NOT_PAIRED", "pairing required")
    assert details == {"code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": details["requestId"],
                       "deviceId": key.device_id, "requestedRole": "operator", "requestedScopes": ["operator.read"]}
    assert closed == (1008, "pairing required")


@pytest.mark.parametrize("client_id", ["moltbot-control-ui", "openclaw-control-ui"])
@pytest.mark.parametrize("protocol", VERSIONS)
async def test_control_ui_without_a_device_needs_one(make_config, protocol, client_id):
    config = make_config(control_ui=ControlUiConfig(enabled=False))
    async with open_gateway(config, port=0, env={}) as gateway:
        params = connect_params((protocol, protocol), client_id=client_id, mode="webchat", scopes=["operator.read"])
        error, closed = await _refused(gateway.url, lambda nonce: params)
    assert error["details"] == {"code": "CONTROL_UI_DEVICE_IDENTITY_REQUIRED"}
    assert closed[0] == 1008


def test_the_five_next_steps_are_protocol_4s():
    assert sorted(NEXT_STEPS) == sorted(["retry_with_device_token", "update_auth_configuration",
                                         "update_auth_credentials", "wait_then_retry", "review_auth_configuration"])

"""Tailscale identity auth: Serve's headers are a claim, tailscaled's whois decides (fail closed)."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

from moltbot.config.model import AuthConfig, GatewayConfig, TailscaleConfig
from moltbot.tailscale import allow_tailscale
from moltbot.tailscale.identity import IdentityVerifier, ServeClaim, serve_claim
from moltbot.tailscale.localapi import LocalApi, LocalApiError
from tests.conftest import TOKEN, connect_frame, open_raw

from .conftest import ALICE_IP, serve_headers

V4 = {
    "minProtocol": 4,
    "maxProtocol": 4,
    "client": {"id": "cli", "version": "1.0", "platform": "linux", "mode": "cli"},
}


def scope(peer: str = "127.0.0.1", headers: list[tuple[str, str]] | None = None) -> dict:
    return {
        "type": "websocket",
        "client": (peer, 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or serve_headers())],
    }


# --- the claim (Rules 1 and 2) -----------------------------------------------------------------------


def test_serve_request_from_loopback_claims_the_forwarded_user():
    assert serve_claim(scope()) == ServeClaim(
        address=ALICE_IP,
        login="alice@example.com",
        name="Alice Example",
        profile_pic="https://example.com/alice.png",
    )


def test_identity_headers_from_a_non_loopback_peer_claim_nothing():
    assert serve_claim(scope(peer="192.168.1.20")) is None
    assert serve_claim(scope(peer=ALICE_IP)) is None


@pytest.mark.parametrize(
    "dropped", ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "tailscale-user-login"]
)
def test_a_request_without_every_serve_header_claims_nothing(dropped):
    headers = [(k, v) for k, v in serve_headers() if k.lower() != dropped]
    assert serve_claim(scope(headers=headers)) is None


def test_a_forwarded_chain_or_loopback_client_claims_nothing():
    assert serve_claim(scope(headers=serve_headers(ip=f"10.0.0.9, {ALICE_IP}"))) is None
    assert serve_claim(scope(headers=serve_headers(ip="127.0.0.1"))) is None
    twice = serve_headers() + [("X-Forwarded-For", "100.100.100.100")]
    assert serve_claim(scope(headers=twice)) is None


def test_a_funnel_request_never_claims_a_user():
    headers = serve_headers() + [("Tailscale-Funnel-Request", "?1")]
    assert serve_claim(scope(headers=headers)) is None


def test_allow_tailscale_defaults_as_the_original():
    def gateway(**kwargs) -> GatewayConfig:
        auth = kwargs.pop("auth", AuthConfig(token="t"))
        return GatewayConfig(auth=auth, **kwargs)

    assert not allow_tailscale(gateway(), {})
    assert allow_tailscale(gateway(tailscale=TailscaleConfig(mode="serve")), {})
    assert not allow_tailscale(gateway(tailscale=TailscaleConfig(mode="funnel")), {})
    assert not allow_tailscale(
        gateway(tailscale=TailscaleConfig(mode="serve"), auth=AuthConfig(password="p")), {}
    )
    assert allow_tailscale(gateway(auth=AuthConfig(token="t", allow_tailscale=True)), {})
    assert not allow_tailscale(
        gateway(tailscale=TailscaleConfig(mode="serve"), auth=AuthConfig(token="t", allow_tailscale=False)),
        {},
    )


# --- the verification (Rule 3) against the fake tailscaled ---------------------------------------------


async def test_whois_confirms_the_claim_and_is_cached(tailscaled):
    verifier = IdentityVerifier(LocalApi(tailscaled.socket_path))
    claim = serve_claim(scope())
    with trio.fail_after(5):
        identity, reason = await verifier.verify(claim)
        again, _ = await verifier.verify(claim)
    assert reason == "verified"
    assert identity is not None and identity.login == "alice@example.com" and identity.name == "Alice Example"
    assert again == identity
    assert tailscaled.whois_calls == [ALICE_IP]


async def test_whois_for_another_user_is_a_mismatch(tailscaled):
    verifier = IdentityVerifier(LocalApi(tailscaled.socket_path))
    with trio.fail_after(5):
        identity, reason = await verifier.verify(
            serve_claim(scope(headers=serve_headers(login="bob@example.com")))
        )
    assert identity is None and reason.startswith("mismatch")


async def test_login_comparison_ignores_case(tailscaled):
    verifier = IdentityVerifier(LocalApi(tailscaled.socket_path))
    with trio.fail_after(5):
        identity, _ = await verifier.verify(
            serve_claim(scope(headers=serve_headers(login="Alice@Example.COM")))
        )
    assert identity is not None and identity.login == "alice@example.com"


async def test_a_tagged_device_is_never_a_user(tailscaled):
    tailscaled.add_peer("100.70.0.7", login="tagged-devices", tags=["tag:server"])
    verifier = IdentityVerifier(LocalApi(tailscaled.socket_path))
    with trio.fail_after(5):
        identity, _ = await verifier.verify(
            serve_claim(scope(headers=serve_headers(ip="100.70.0.7", login="tagged-devices")))
        )
    assert identity is None


async def test_an_unknown_address_fails_closed(tailscaled):
    verifier = IdentityVerifier(LocalApi(tailscaled.socket_path))
    with trio.fail_after(5):
        identity, reason = await verifier.verify(serve_claim(scope(headers=serve_headers(ip="100.99.99.99"))))
    assert identity is None and "no tailnet peer" in reason


async def test_a_daemon_that_never_answers_fails_closed_within_the_timeout(tailscaled):
    tailscaled.hang = True
    verifier = IdentityVerifier(LocalApi(tailscaled.socket_path, timeout=0.3))
    with trio.fail_after(5):
        identity, reason = await verifier.verify(serve_claim(scope()))
    assert identity is None and "did not answer" in reason


async def test_a_missing_socket_fails_closed(socket_dir):
    verifier = IdentityVerifier(LocalApi(str(socket_dir / "absent.sock")))
    with trio.fail_after(5):
        identity, reason = await verifier.verify(serve_claim(scope()))
    assert identity is None and "no tailscaled socket" in reason


async def test_a_broken_daemon_answer_is_an_error(tailscaled):
    tailscaled.broken = True
    with trio.fail_after(5), pytest.raises(LocalApiError, match="HTTP 500"):
        await LocalApi(tailscaled.socket_path).status()


# --- end to end: the WebSocket handshake ---------------------------------------------------------------


async def test_serve_request_with_a_confirmed_identity_is_admitted_as_tailscale(
    ts_gateway, tailscaled, caplog
):
    caplog.set_level(logging.INFO, logger="moltbot")
    async with open_raw(ts_gateway.url, extra_headers=serve_headers()) as client:
        # Device-less, so a token must be there (as in the original), but it is not the gateway's.
        await client.send(connect_frame(**V4, auth={"token": "not-the-token"}))
        hello = await client.response("c1")
    assert hello["ok"], hello
    assert hello["payload"]["auth"]["method"] == "tailscale"
    assert tailscaled.whois_calls == [ALICE_IP]
    assert any("auth=tailscale user=alice@example.com" in r.getMessage() for r in caplog.records)


async def test_presence_names_the_tailscale_user(ts_gateway):
    async with open_raw(ts_gateway.url, extra_headers=serve_headers()) as client:
        await client.send(connect_frame(auth={"token": "not-the-token"}))
        hello = await client.response("c1")
    assert hello["ok"], hello
    users = [entry.get("user") for entry in hello["payload"]["snapshot"]["presence"] if entry.get("user")]
    assert users == [
        {"id": "alice@example.com", "name": "Alice Example", "avatarUrl": "https://example.com/alice.png"}
    ]


async def test_spoofed_identity_headers_without_serve_headers_are_refused(ts_gateway, tailscaled):
    spoofed = [("Tailscale-User-Login", "alice@example.com"), ("Tailscale-User-Name", "Alice Example")]
    async with open_raw(ts_gateway.url, extra_headers=spoofed) as client:
        await client.send(connect_frame(auth={"token": "not-the-token"}))
        answer = await client.response("c1")
        code, _ = await client.closed()
    assert not answer["ok"] and answer["error"]["message"].startswith("unauthorized: gateway token mismatch")
    assert code == 1008
    assert tailscaled.whois_calls == []  # nothing was even claimed


async def test_serve_request_whose_whois_is_another_user_is_refused(ts_gateway, tailscaled):
    async with open_raw(ts_gateway.url, extra_headers=serve_headers(login="bob@example.com")) as client:
        await client.send(connect_frame(auth={"token": "not-the-token"}))
        answer = await client.response("c1")
    assert not answer["ok"] and "token mismatch" in answer["error"]["message"]
    assert tailscaled.whois_calls == [ALICE_IP]


async def test_serve_request_is_refused_when_tailscaled_is_unreachable(ts_gateway, tailscaled):
    tailscaled.broken = True
    async with open_raw(ts_gateway.url, extra_headers=serve_headers()) as client:
        await client.send(connect_frame(auth={"token": "not-the-token"}))
        answer = await client.response("c1")
    assert not answer["ok"] and "token mismatch" in answer["error"]["message"]


async def test_serve_request_with_the_token_still_works_when_tailscaled_is_down(ts_gateway, tailscaled):
    tailscaled.broken = True
    async with open_raw(ts_gateway.url, extra_headers=serve_headers()) as client:
        await client.send(connect_frame(**V4))
        hello = await client.response("c1")
    assert hello["ok"] and hello["payload"]["auth"]["method"] == "token"


async def test_identity_auth_is_off_without_allow_tailscale(gateway):
    async with open_raw(gateway.url, extra_headers=serve_headers()) as client:
        await client.send(connect_frame(auth={"token": "not-the-token"}))
        answer = await client.response("c1")
    assert not answer["ok"]


# --- end to end: HTTP ------------------------------------------------------------------------------------


async def test_http_api_accepts_a_confirmed_identity_and_refuses_headers_alone(ts_gateway, tailscaled):
    url = ts_gateway.url.replace("ws://", "http://") + "/v1/models"
    async with httpx.AsyncClient(timeout=5) as http:
        confirmed = await http.get(url, headers=dict(serve_headers()))
        mismatch = await http.get(url, headers=dict(serve_headers(login="bob@example.com")))
        spoofed = await http.get(url, headers={"Tailscale-User-Login": "alice@example.com"})
        with_token = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert confirmed.status_code == 200, confirmed.text
    assert mismatch.status_code == 401 and spoofed.status_code == 401
    assert with_token.status_code == 200

"""Lockouts that protect the owner (issue 15 §6): failures keyed by normalised address, Origin and
credential class; loopback clients without an Origin are never locked out; a page only locks out itself.

End to end over real loopback WebSockets; the limiter's keying and memory bound as units (a fake clock).
"""

from __future__ import annotations

import json

import trio

from moltbot.config.model import AuthConfig, AuthRateLimit, ControlUiConfig
from moltbot.gateway.app import open_gateway
from moltbot.gateway.auth import Authenticator, ResolvedAuth
from moltbot.protocol import RemoteProtocolError
from moltbot.protocol._device import DeviceKeyPair, sign_connect
from tests.conftest import TOKEN, connect_frame, open_raw

PAGE = "https://app.example"
OTHER_PAGE = "https://other.example"
RATE_LIMITED = "unauthorized: too many failed authentication attempts (retry later)"  # OpenClaw's wording
MAX_TRACKED_KEYS = 10_000
CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


async def attempt(url: str, token: str, *, page: str | None = None, client: dict | None = None) -> dict:
    """One ``connect`` with ``token`` (from ``page``'s Origin when given); its response."""
    headers = [("Origin", page)] if page else None
    async with open_raw(url, extra_headers=headers) as ws:
        await ws.send(connect_frame(auth={"token": token}, **({"client": client} if client else {})))
        return await ws.response("c1")


def browser_config(make_config, **limits):
    return make_config(control_ui=ControlUiConfig(enabled=False, allowed_origins=[PAGE, OTHER_PAGE]),
                       auth=AuthConfig(token=TOKEN, rate_limit=AuthRateLimit(**limits)))


async def test_the_owners_cli_gets_in_while_a_page_brute_forces(make_config):
    with trio.fail_after(60):
        async with open_gateway(browser_config(make_config), port=0, env={}) as gateway:
            refusals = []
            for guess in range(14):
                refusals.append((await attempt(gateway.url, f"guess-{guess}", page=PAGE))["error"])
                assert (await attempt(gateway.url, TOKEN, client=CLI))["ok"]  # the CLI, between guesses
    assert [r["message"] for r in refusals[10:]] == [RATE_LIMITED] * 4
    assert all(r["retryAfterMs"] > 0 for r in refusals[10:])
    assert "mismatch" in refusals[9]["message"]


async def test_loopback_clients_without_origin_are_never_locked_out(make_config):
    with trio.fail_after(60):
        async with open_gateway(browser_config(make_config, max_failures=3), port=0, env={}) as gateway:
            for guess in range(8):
                assert "mismatch" in (await attempt(gateway.url, f"guess-{guess}"))["error"]["message"]
            assert (await attempt(gateway.url, TOKEN))["ok"]


async def test_browser_failures_are_limited_per_origin(make_config):
    with trio.fail_after(60):
        async with open_gateway(browser_config(make_config, max_failures=3), port=0, env={}) as gateway:
            for guess in range(3):
                await attempt(gateway.url, f"guess-{guess}", page=PAGE)
            locked = (await attempt(gateway.url, TOKEN, page=PAGE))["error"]  # even the right token
            other = await attempt(gateway.url, TOKEN, page=OTHER_PAGE)
    assert locked["message"] == RATE_LIMITED and locked["retryable"] is True
    assert other["ok"]


async def test_a_device_token_never_resets_shared_secret_throttling(make_config):
    """An attacker's own paired device (its token good) interleaved with guesses: the guesses still add up
    (PR #57647's class: a device credential must not disable shared-secret throttling)."""
    config = make_config(auth=AuthConfig(token=TOKEN, rate_limit=AuthRateLimit(max_failures=3,
                                                                               exempt_loopback=False)))
    key = DeviceKeyPair.generate()

    async def with_device(token: str) -> dict:
        async with open_raw(gateway.url) as ws:
            params = json.loads(connect_frame(auth={"token": token}, scopes=["operator.read"]))["params"]
            params["device"] = sign_connect(key, params, nonce=ws.challenge["payload"]["nonce"])
            await ws.send({"type": "req", "id": "c1", "method": "connect", "params": params})
            return await ws.response("c1")

    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway:
            device_token = (await with_device(TOKEN))["payload"]["auth"]["deviceToken"]
            answers = []
            for guess in range(4):
                answers.append(await with_device(f"guess-{guess}"))
                answers.append(await with_device(device_token))
    assert [a["ok"] for a in answers[:5]] == [False, True, False, True, False]
    assert answers[5]["error"]["message"] == RATE_LIMITED  # locked: the device token is refused too
    assert answers[6]["error"]["message"] == RATE_LIMITED


def fake_clock():
    now = [0.0]
    return now, lambda: now[0]


def test_addresses_are_normalised_before_keying():
    from moltbot.gateway.auth import client_key

    assert client_key("::ffff:10.1.2.3") == client_key("10.1.2.3") == "10.1.2.3"
    assert client_key("127.0.0.1") == client_key("127.44.0.9") == client_key("::1") == client_key("::ffff:127.0.0.1")
    assert client_key("2001:db8:0:0::1") == "2001:db8::1"


def test_guesses_spread_over_127_8_share_one_budget():
    now, clock = fake_clock()
    auth = Authenticator(ResolvedAuth("token", TOKEN), AuthRateLimit(max_failures=3, exempt_loopback=False), clock)
    for last in range(3):
        try:
            auth.verify("guess", f"127.0.0.{last + 2}", origin=PAGE)
        except RemoteProtocolError as exc:
            assert "unauthorized" in exc.message
    try:
        auth.verify(TOKEN, "::ffff:127.9.9.9", origin=PAGE)
    except RemoteProtocolError as exc:
        assert exc.message == RATE_LIMITED
    else:
        raise AssertionError("the fourth address of 127/8 was not locked out")


def test_the_limiter_memory_is_bounded_under_address_spraying():
    now, clock = fake_clock()
    auth = Authenticator(ResolvedAuth("token", TOKEN), AuthRateLimit(max_failures=1), clock)
    for index in range(3 * MAX_TRACKED_KEYS):
        address = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        try:
            auth.verify("guess", address)
        except RemoteProtocolError:
            pass
        now[0] += 1
    assert auth.limiter.tracked() <= 2 * MAX_TRACKED_KEYS  # failures and lockouts, each bounded


async def test_http_bearer_guesses_from_a_page_lock_out_only_that_page(make_config):
    import httpx

    with trio.fail_after(60):
        async with open_gateway(browser_config(make_config, max_failures=3), port=0, env={}) as gateway, \
                httpx.AsyncClient(base_url=gateway.url.replace("ws://", "http://", 1)) as http:
            async def invoke(token: str, page: str | None = None) -> httpx.Response:
                headers = {"authorization": f"Bearer {token}", **({"origin": page} if page else {})}
                return await http.post("/tools/invoke", headers=headers, json={"tool": "nope"})

            guesses = [await invoke(f"guess-{n}", PAGE) for n in range(4)]
            owner = await invoke(TOKEN)
    assert [g.status_code for g in guesses] == [401] * 4 and "retry-after" in guesses[3].headers
    assert owner.status_code != 401

"""Lockouts that hold for clients the gateway cannot see directly (issue 15 §6, review of the limiter).

Only direct-local traffic (loopback peer, loopback ``Host``, no proxy headers, no trusted proxy) is exempt
(no ``Origin``) or keyed per ``Origin``. Anything else is counted per client address: the forwarded
client's behind a trusted proxy, the proxy's own otherwise; the ``Origin`` it sends is ignored (it chose
it). Over real loopback sockets: a "remote" client is one whose request carries a proxy's headers.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import httpx
import trio
from trio_websocket import wrap_client_stream

from moltbot.config.model import AuthConfig, AuthRateLimit
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN, RawClient, connect_frame

RATE_LIMITED = "unauthorized: too many failed authentication attempts (retry later)"
CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}


@asynccontextmanager
async def open_as(port: int, *, host: str | None = None, headers: list[tuple[str, str]] = ()):
    """A raw WebSocket to 127.0.0.1:``port`` sending ``Host: host`` and ``headers``, as a proxy (or a
    client that forges them) would."""
    async with trio.open_nursery() as nursery:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = await wrap_client_stream(nursery, stream, host or f"127.0.0.1:{port}", "/",
                                      extra_headers=[(k.encode(), v.encode()) for k, v in headers])
        try:
            yield RawClient(ws, json.loads(await ws.get_message()))
        finally:
            await ws.aclose()


async def attempt(port: int, token: str, *, host: str | None = None, headers: list[tuple[str, str]] = (),
                  client: dict | None = None) -> dict:
    async with open_as(port, host=host, headers=headers) as ws:
        await ws.send(connect_frame(auth={"token": token}, **({"client": client} if client else {})))
        return await ws.response("c1")


def messages(answers: list[dict]) -> list[str]:
    return ["ok" if a["ok"] else a["error"]["message"] for a in answers]


def limited(make_config, **gateway):
    limits = gateway.pop("limits", {})
    return make_config(auth=AuthConfig(token=TOKEN, rate_limit=AuthRateLimit(max_failures=3, **limits)),
                       **gateway)


async def test_a_remote_client_cannot_spread_guesses_over_origins(make_config):
    """The reviewer's attack: one non-loopback client (here behind a trusted proxy) sends each guess with
    a fresh ``Host: 127.0.0.N:P`` and the matching, "own" looking ``Origin``."""
    config = limited(make_config, trusted_proxies=["127.0.0.1"])
    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway:
            port = gateway.port
            answers = []
            for n in range(6):
                host = f"127.0.0.{n + 2}:{port}"
                answers.append(await attempt(port, f"guess-{n}", host=host, headers=[
                    ("Origin", f"http://{host}"), ("X-Forwarded-For", "203.0.113.7")]))
            owner = await attempt(port, TOKEN, client=CLI)
    assert messages(answers)[3:] == [RATE_LIMITED] * 3
    assert owner["ok"]


async def test_clients_behind_a_local_proxy_are_counted(make_config):
    """``tailscale serve``/funnel or nginx deliver every remote client from loopback without an Origin:
    with no trusted proxy configured they share the proxy's budget, and the owner's CLI is untouched."""
    config = limited(make_config)
    funnel = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway:
            guesses = [await attempt(gateway.port, f"guess-{n}", headers=funnel) for n in range(4)]
            proxied = await attempt(gateway.port, TOKEN, headers=[("X-Real-IP", "198.51.100.2")])
            owner = await attempt(gateway.port, TOKEN, client=CLI)
    assert "mismatch" in messages(guesses)[2] and messages(guesses)[3] == RATE_LIMITED
    assert proxied["error"]["message"] == RATE_LIMITED
    assert owner["ok"]


async def test_http_bearer_guesses_through_a_local_proxy_are_counted(make_config):
    config = limited(make_config)
    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway, \
                httpx.AsyncClient(base_url=gateway.url.replace("ws://", "http://", 1)) as http:
            async def invoke(token: str, **headers: str) -> httpx.Response:
                return await http.post("/tools/invoke", json={"tool": "nope"},
                                       headers={"authorization": f"Bearer {token}", **headers})

            guesses = [await invoke(f"guess-{n}", **{"x-forwarded-for": "203.0.113.7"}) for n in range(4)]
            owner = await invoke(TOKEN)
    assert [g.status_code for g in guesses] == [401] * 4
    assert "retry-after" not in guesses[2].headers and "retry-after" in guesses[3].headers
    assert owner.status_code != 401


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(make_config):
    """Keyed by the last ``X-Forwarded-For`` hop that is no trusted proxy (the one the proxy appended):
    a hop the client wrote itself changes nothing, and another client behind the proxy still gets in."""
    config = limited(make_config, trusted_proxies=["127.0.0.1"])
    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway:
            guesses = [await attempt(gateway.port, f"guess-{n}",
                                     headers=[("X-Forwarded-For", f"10.0.0.{n}, 203.0.113.7, 127.0.0.1")])
                       for n in range(4)]
            other = await attempt(gateway.port, TOKEN, headers=[("X-Forwarded-For", "198.51.100.9")])
            by_real_ip = await attempt(gateway.port, TOKEN, headers=[("X-Real-IP", "203.0.113.7")])
    assert messages(guesses)[3] == RATE_LIMITED
    assert other["ok"]
    assert by_real_ip["error"]["message"] == RATE_LIMITED


async def test_a_trusted_proxy_that_adds_no_headers_is_counted(make_config):
    """A peer listed in ``gateway.trustedProxies`` is a proxy even when its request looks direct."""
    config = limited(make_config, trusted_proxies=["127.0.0.1"])
    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway:
            guesses = [await attempt(gateway.port, f"guess-{n}") for n in range(4)]
    assert messages(guesses)[3] == RATE_LIMITED


async def test_retry_after_is_rounded_up(make_config):
    """``Retry-After`` never promises a retry before the lockout ends: it is at least the remaining
    lockout, as the WebSocket's ``retryAfterMs`` for the same client reports it just after."""
    config = limited(make_config, limits={"lockout_ms": 60_999, "exempt_loopback": False})
    proxied = {"x-forwarded-for": "203.0.113.7"}
    with trio.fail_after(60):
        async with open_gateway(config, port=0, env={}) as gateway, \
                httpx.AsyncClient(base_url=gateway.url.replace("ws://", "http://", 1)) as http:
            for n in range(4):
                answer = await http.post("/tools/invoke", json={"tool": "nope"},
                                         headers={"authorization": f"Bearer guess-{n}", **proxied})
            after = await attempt(gateway.port, TOKEN, headers=list(proxied.items()))
    assert after["error"]["message"] == RATE_LIMITED
    assert int(answer.headers["retry-after"]) * 1000 >= after["error"]["retryAfterMs"]

"""Hook tokens are limited too (issue 15 §6): 20 wrong tokens in 60 s answer 429 with Retry-After, from
loopback as from anywhere. During a lockout the owner's own (direct-local) correct token still gets in; a
proxied one does not (the answer would tell a guesser it hit). A token in a URL is refused, never compared
or counted (a page can make the owner's browser send such a URL: an ``<img>``, a form)."""

from __future__ import annotations

import httpx
import pytest
import trio

from moltbot.config.model import HooksConfig
from moltbot.gateway.app import open_gateway

HOOK_TOKEN = "hook-secret-0123456789"


@pytest.fixture
async def hooks_gateway(make_config):
    config = make_config()
    config = type(config)(gateway=config.gateway, hooks=HooksConfig(enabled=True, token=HOOK_TOKEN),
                          canvas_host=config.canvas_host, path=config.path, state_dir=config.state_dir)
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            yield gateway


@pytest.fixture
async def http(hooks_gateway):
    async with httpx.AsyncClient(base_url=hooks_gateway.url.replace("ws://", "http://", 1)) as client:
        yield client


async def wrong_tokens(http, count: int, headers: dict[str, str] | None = None) -> list[int]:
    return [(await http.post("/hooks/wake", headers={"authorization": f"Bearer wrong-{n}", **(headers or {})},
                             json={"text": "x"})).status_code for n in range(count)]


async def test_wrong_hook_tokens_are_rate_limited_with_retry_after(hooks_gateway, http):
    with trio.fail_after(60):
        statuses = await wrong_tokens(http, 25)
        locked = await http.post("/hooks/wake", headers={"authorization": "Bearer wrong-again"}, json={"text": "x"})
    assert statuses[:19] == [401] * 19 and statuses[19:] == [429] * 6
    assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 60
    assert hooks_gateway.system_events == []


async def test_the_owners_correct_hook_token_gets_in_during_a_lockout(hooks_gateway, http):
    with trio.fail_after(60):
        statuses = await wrong_tokens(http, 21)
        owner = await http.post("/hooks/wake", headers={"authorization": f"Bearer {HOOK_TOKEN}"}, json={"text": "ok"})
        still_wrong = await http.post("/hooks/wake", headers={"authorization": "Bearer wrong"}, json={"text": "x"})
    assert statuses[-1] == 429
    assert owner.status_code == 200 and hooks_gateway.system_events == ["ok"]
    assert still_wrong.status_code == 429


async def test_a_proxied_correct_hook_token_is_refused_during_a_lockout(hooks_gateway, http):
    """Through a local proxy (funnel, nginx) the limiter cannot tell the owner from a guesser: the lockout
    holds for every token, or a guesser would learn from the answer which of its guesses hit."""
    funnel = {"x-forwarded-for": "203.0.113.7"}
    with trio.fail_after(60):
        statuses = await wrong_tokens(http, 20, funnel)
        proxied = await http.post("/hooks/wake", headers={"authorization": f"Bearer {HOOK_TOKEN}", **funnel},
                                  json={"text": "x"})
    assert statuses[-1] == 429 and proxied.status_code == 429
    assert hooks_gateway.system_events == []


async def test_get_requests_with_a_url_token_never_lock_out_the_owner(hooks_gateway, http):
    """``<img src="http://127.0.0.1:18789/hooks/x?token=bad">`` from any page, again and again: refused
    without being counted, and the owner's webhooks keep working."""
    with trio.fail_after(60):
        images = [(await http.get(f"/hooks/x?token=bad-{n}")).status_code for n in range(25)]
        bare = [(await http.get("/hooks/x")).status_code for _ in range(25)]
        owner = await http.post("/hooks/wake", headers={"x-moltbot-token": HOOK_TOKEN}, json={"text": "ok"})
        proxied = await http.post("/hooks/wake", headers={"x-moltbot-token": HOOK_TOKEN,
                                                          "x-forwarded-for": "203.0.113.7"}, json={"text": "ok 2"})
        get_with_token = await http.get("/hooks/x", headers={"x-moltbot-token": HOOK_TOKEN})
    assert images == [400] * 25 and bare == [401] * 25
    assert owner.status_code == 200 and proxied.status_code == 200
    assert hooks_gateway.system_events == ["ok", "ok 2"]
    assert get_with_token.status_code == 405 and get_with_token.headers["allow"] == "POST"


async def test_a_hook_token_in_a_post_url_is_refused(hooks_gateway, http):
    with trio.fail_after(10):
        answer = await http.post(f"/hooks/wake?token={HOOK_TOKEN}", json={"text": "from a form"})
        in_header = await http.post("/hooks/wake", headers={"x-moltbot-token": HOOK_TOKEN}, json={"text": "ok"})
    assert answer.status_code == 400 and "header" in answer.json()["error"]
    assert HOOK_TOKEN not in answer.text
    assert in_header.status_code == 200 and hooks_gateway.system_events == ["ok"]

"""Hook tokens are limited too (issue 15 §6): 20 failures in 60 s answer 429 with Retry-After, whatever the
token, from loopback as from anywhere; a token in a POST's URL is refused (a page's form could send it)."""

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


async def test_wrong_hook_tokens_are_rate_limited_with_retry_after(hooks_gateway, http):
    with trio.fail_after(60):
        statuses = [(await http.post("/hooks/wake", headers={"authorization": f"Bearer wrong-{n}"},
                                     json={"text": "x"})).status_code for n in range(25)]
        locked = await http.post("/hooks/wake", headers={"authorization": f"Bearer {HOOK_TOKEN}"}, json={"text": "x"})
    assert statuses[:19] == [401] * 19 and statuses[19:] == [429] * 6
    assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 60
    assert hooks_gateway.system_events == []


async def test_a_hook_token_in_a_post_url_is_refused(hooks_gateway, http):
    with trio.fail_after(10):
        answer = await http.post(f"/hooks/wake?token={HOOK_TOKEN}", json={"text": "from a form"})
        in_header = await http.post("/hooks/wake", headers={"x-moltbot-token": HOOK_TOKEN}, json={"text": "ok"})
    assert answer.status_code == 400 and "header" in answer.json()["error"]
    assert HOOK_TOKEN not in answer.text
    assert in_header.status_code == 200 and hooks_gateway.system_events == ["ok"]

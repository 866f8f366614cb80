"""The health probes on the gateway port (issue 19): OpenClaw's paths, status codes and bodies, details only
for local or authenticated callers, and no Host guard in a probe's way."""

from __future__ import annotations

import attrs
import pytest
import trio

from moltbot.channels import manager as manager_module
from moltbot.channels.base import Backoff
from moltbot.config.model import ChannelsConfig, ControlUiConfig, TelegramConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.telegram import open_fake_telegram
from tests.hostile.http_raw import AUTH, request

BOT = "111:AAA-test-token"
REMOTE = {"X-Forwarded-For": "203.0.113.7"}  # proxy headers: no longer a direct-local caller


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(manager_module, "BACKOFF", Backoff(initial=0.05, maximum=0.2, jitter=0.1))


@pytest.mark.parametrize("path", ["/health", "/healthz"])
async def test_live_answers_ok_live_without_auth(gateway, path):
    answer = await request(gateway, "GET", path)
    assert (answer.status, answer.json()) == (200, {"ok": True, "status": "live"})
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/startup", "/startupz"])
async def test_startup_gives_a_local_caller_version_and_uptime(gateway, path):
    answer = await request(gateway, "GET", path)
    body = answer.json()
    assert answer.status == 200 and body.pop("uptimeMs") >= 0
    assert body == {"ok": True, "status": "started", "version": gateway.version}


@pytest.mark.parametrize("path", ["/ready", "/readyz"])
async def test_ready_without_channels_gives_a_local_caller_the_details(gateway, path):
    answer = await request(gateway, "GET", path)
    body = answer.json()
    assert answer.status == 200 and body.pop("uptimeMs") >= 0
    assert body == {"ready": True, "failing": [], "version": gateway.version}


@pytest.mark.parametrize(("path", "bare"), [("/readyz", {"ready": True}),
                                            ("/startupz", {"ok": True, "status": "started"})])
async def test_a_remote_caller_gets_only_the_verdict(gateway, path, bare):
    assert (await request(gateway, "GET", path, headers=REMOTE)).json() == bare
    with_token = await request(gateway, "GET", path, headers={**REMOTE, **AUTH})
    assert set(with_token.json()) > set(bare)  # the gateway token earns the details
    wrong = await request(gateway, "GET", path, headers={**REMOTE, "Authorization": f"Bearer {TOKEN}x"})
    assert (wrong.status, wrong.json()) == (200, bare)  # never a 401 from a probe, nor the token echoed


@pytest.mark.parametrize("host", ["gateway:18789", "10.1.2.3:18789", "evil.example"])
async def test_probes_answer_whatever_host_a_container_probe_sends(gateway, host):
    for path, status in (("/healthz", 200), ("/readyz", 200), ("/startupz", 200)):
        answer = await request(gateway, "GET", path, headers={"Host": host})
        assert answer.status == status
        assert "failing" not in answer.json() and "version" not in answer.json()  # not a local caller
    assert (await request(gateway, "GET", "/v1/models", headers={"Host": host})).status == 421  # only probes


async def test_head_has_no_body_and_other_methods_are_405(gateway):
    head = await request(gateway, "HEAD", "/healthz")
    assert (head.status, head.body) == (200, b"") and head.headers["content-type"].startswith("application/json")
    for method in ("POST", "PUT", "DELETE"):
        answer = await request(gateway, method, "/readyz", body=b"{}")
        assert (answer.status, answer.headers.get("allow"), answer.body) == (405, "GET, HEAD", b"Method Not Allowed")


async def test_only_exact_paths_are_probes(make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=True))  # nor the dashboard's page (issue 19)
    async with open_gateway(config, port=0, env={}) as gateway:
        for path in ("/healthz/x", "/readyz/", "/HEALTHZ"):
            assert (await request(gateway, "GET", path)).status == 404


async def test_a_draining_runtime_is_not_ready_but_still_live(gateway):
    gateway.runtime.retirement.draining = True  # what an in-process restart or a stop sets while clients leave
    try:
        ready, startup, live = [await request(gateway, "GET", path) for path in ("/readyz", "/startupz", "/healthz")]
    finally:
        gateway.runtime.retirement.draining = False
    assert (ready.status, ready.json()["ready"], ready.json()["failing"]) == (503, False, ["gateway-draining"])
    assert (startup.status, startup.json()["status"], startup.json()["ok"]) == (503, "draining", False)
    assert (live.status, live.json()) == (200, {"ok": True, "status": "live"})
    assert (await request(gateway, "GET", "/readyz", headers=REMOTE)).json() == {"ready": True}


async def test_a_configured_channel_that_cannot_run_keeps_the_gateway_not_ready(make_config):
    config = attrs.evolve(make_config(), channels=ChannelsConfig(telegram=TelegramConfig()))  # no token
    async with open_gateway(config, port=0, env={}) as gateway:
        local = await request(gateway, "GET", "/readyz")
        remote = await request(gateway, "GET", "/readyz", headers=REMOTE)
        started = await request(gateway, "GET", "/startupz")
    assert (local.status, local.json()["failing"]) == (503, ["telegram"])
    assert (remote.status, remote.json()) == (503, {"ready": False})
    assert started.status == 200  # started, not ready: the two probes differ on purpose


async def test_a_disabled_channel_does_not_count(make_config):
    config = attrs.evolve(make_config(), channels=ChannelsConfig(telegram=TelegramConfig(enabled=False)))
    async with open_gateway(config, port=0, env={}) as gateway:
        assert (await request(gateway, "GET", "/readyz")).status == 200


async def test_ready_once_the_telegram_account_is_connected(make_config):
    with trio.fail_after(20):
        async with open_fake_telegram() as fake:
            fake.bot(BOT)
            config = attrs.evolve(make_config(), channels=ChannelsConfig(
                telegram=TelegramConfig(bot_token=BOT, api_root=fake.url)))
            async with open_gateway(config, port=0, env={}) as gateway:
                while (answer := await request(gateway, "GET", "/readyz")).status != 200:
                    assert answer.json()["failing"] == ["telegram"]
                    await trio.sleep(0.05)  # polling the probe as a container runtime would, under fail_after
    assert answer.json()["failing"] == []

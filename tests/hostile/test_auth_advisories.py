"""Today's OpenClaw advisories as regression tests (issue 15 §11), and the
password-mode hint (issue 15 §10). Over real loopback sockets; the config check as a unit."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import trio

from moltbot.channels.telegram import webhook
from moltbot.client import open_gateway_client
from moltbot.config.load import ConfigError, load_config, parse_config
from moltbot.config.model import (
    AuthConfig,
    ChannelsConfig,
    Config,
    ControlUiConfig,
    GatewayConfig,
    TelegramConfig,
)
from moltbot.gateway.app import open_gateway
from moltbot.protocol import RemoteProtocolError
from moltbot.protocol._device import DeviceKeyPair, sign_connect
from tests.conftest import TOKEN, connect_frame, open_raw
from tests.fakes.telegram import open_fake_telegram
from tests.nodes.helpers import REMOTE, next_event, wait_until

CLI = {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}
PAGE = "https://app.example"


async def signed(ws, key: DeviceKeyPair | None = None, **params) -> dict:
    body = json.loads(connect_frame(**params))["params"]
    body["device"] = sign_connect(key or DeviceKeyPair.generate(), body, nonce=ws.challenge["payload"]["nonce"])
    await ws.send({"type": "req", "id": "c1", "method": "connect", "params": body})
    return await ws.response("c1")


@pytest.mark.parametrize("auth", [{"password": "wrong"}, None], ids=["mismatch", "missing"])
async def test_password_mode_hint_names_the_password(make_config, auth):
    config = make_config(auth=AuthConfig(password="pw-secret"))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, open_raw(gateway.url) as ws:
            message = (await signed(ws, client=CLI, auth=auth))["error"]["message"]
    assert "CLAWDBOT_GATEWAY_PASSWORD" in message and "--password" in message and "TOKEN" not in message


@pytest.mark.parametrize("headers", [REMOTE, [("Origin", PAGE)]], ids=["remote", "browser"])
async def test_a_device_less_connect_cannot_keep_self_declared_admin(make_config, headers):
    """GHSA-rqpp-rjj8-7wv8: only a local client that is no browser keeps the scopes it declared."""
    config = make_config(control_ui=ControlUiConfig(enabled=False, allowed_origins=[PAGE]))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True, extra_headers=headers,
                                scopes=["operator.admin"]) as ws:
                refused = await ws.call("config.get", {})
            async with open_raw(gateway.url, handshake=True, client=CLI, scopes=["operator.admin"]) as ws:
                local = await ws.call("config.get", {})
    assert refused["error"]["message"].startswith("missing scope")
    assert local["ok"]


async def test_a_remote_client_claiming_the_control_ui_under_insecure_auth_gets_no_scopes(make_config):
    """``allowInsecureAuth`` lets the Control UI in without a device from its own origin; a remote client
    that only claims the Control UI's id (no browser Origin) keeps none of the scopes it declared."""
    ui = {"id": "moltbot-control-ui", "version": "1", "platform": "web", "mode": "ui"}
    config = make_config(control_ui=ControlUiConfig(enabled=False, allow_insecure_auth=True))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True, extra_headers=REMOTE, client=ui,
                                scopes=["operator.admin"]) as ws:
                refused = await ws.call("config.get", {})
    assert refused["error"]["message"].startswith("missing scope")


async def test_device_token_rotate_never_mints_scopes_beyond_the_callers(gateway):
    """GHSA-4jpw-hj22-2xmc: a pairing-scoped operator asked for an admin token for a device."""
    key = DeviceKeyPair.generate()
    with trio.fail_after(10):
        async with open_raw(gateway.url) as ws:
            assert (await signed(ws, key=key, scopes=["operator.read"]))["ok"]
        async with open_raw(gateway.url, handshake=True, client=CLI, scopes=["operator.pairing"]) as ws:
            minted = await ws.call("device.token.rotate", {"deviceId": key.device_id, "role": "operator",
                                                           "scopes": ["operator.admin"]})
            within = await ws.call("device.token.rotate", {"deviceId": key.device_id, "role": "operator",
                                                           "scopes": []}, request_id="r2")
    assert not minted["ok"] and minted["error"]["message"] == "missing scope: operator.admin"
    tokens = gateway.runtime.nodes.devices.files.paired[key.device_id]["tokens"]
    assert within["ok"] and tokens["operator"]["scopes"] == []


async def test_node_invoke_strips_approval_fields_before_forwarding(gateway):
    """CVE-2026-28466: ``approved: true`` from the caller skipped the node's exec approval."""
    key = DeviceKeyPair.generate()
    with trio.fail_after(15):
        async with open_gateway_client(gateway.url, token=TOKEN, device=key, role="node", client_id="node-host",
                                       mode="node", commands=["system.which"]) as node, \
                open_gateway_client(gateway.url, token=TOKEN) as operator:
            events = node.subscribe()
            async with trio.open_nursery() as nursery:
                async def invoke() -> None:
                    with pytest.raises(RemoteProtocolError):
                        await operator.call("node.invoke", {
                            "nodeId": key.device_id, "command": "system.which", "idempotencyKey": "k1",
                            "timeoutMs": 300, "params": {"bins": ["sh"], "approved": True,
                                                         "approvalDecision": "allow-always", "runApproved": 1}})

                nursery.start_soon(invoke)
                request = (await next_event(events, "node.invoke.request")).payload
    assert json.loads(request["paramsJSON"]) == {"bins": ["sh"]}


async def test_telegram_webhook_mode_without_a_secret_fails_closed(tmp_path, monkeypatch):
    """CVE-2026-44109: webhook mode without its secret accepted anyone's updates on 0.0.0.0:8787."""
    monkeypatch.setattr(webhook, "DEFAULT_HOST", "127.0.0.1")
    monkeypatch.setattr(webhook, "DEFAULT_PORT", 0)
    with trio.fail_after(15):
        async with open_fake_telegram() as fake:
            bot = fake.bot("111:AAA-test-token")
            config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                            channels=ChannelsConfig(telegram=TelegramConfig(
                                bot_token="111:AAA-test-token", api_root=fake.url, dm_policy="open",
                                webhook_url="https://example.test/tg")))
            async with open_gateway(config, port=0, env={}) as gateway:
                status = gateway.runtime.channels.statuses["telegram"]["default"]
                await wait_until(lambda: status.last_error)
                assert "webhookSecret" in status.last_error and not status.running
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            async with trio.open_nursery() as nursery:
                handled = []

                async def handle(update):
                    handled.append(update)

                nursery.start_soon(trio.serve_listeners, webhook.make_handler("/tg", None, handle), listeners)
                port = listeners[0].socket.getsockname()[1]
                async with httpx.AsyncClient() as http:
                    answer = await http.post(f"http://127.0.0.1:{port}/tg", json={"update_id": 1})
                nursery.cancel_scope.cancel()
    assert bot.method_calls("setWebhook") == [] and answer.status_code == 401 and handled == []


async def test_telegram_webhook_survives_a_non_ascii_secret_and_a_too_deep_body():
    """A secret header that is not ASCII is a wrong secret (compare_digest raised on it), a body nested
    past the frames' limit is bad JSON (json.loads raised RecursionError): 401 and 400, and the handler
    keeps serving."""
    handled = []

    async def handle(update):
        handled.append(update)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tg"
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, webhook.make_handler("/tg", "s3cret", handle), listeners)
            async with httpx.AsyncClient() as http:
                odd = await http.post(url, content=b"{}", headers={"X-Telegram-Bot-Api-Secret-Token": b"s\xe9cret"})
                deep = await http.post(url, content=b"[" * 100_000 + b"]" * 100_000, headers=good)
                fine = await http.post(url, json={"update_id": 1}, headers=good)
            nursery.cancel_scope.cancel()
    assert (odd.status_code, deep.status_code, fine.status_code) == (401, 400, 200)
    assert handled == [{"update_id": 1}]


async def test_a_rotated_token_stops_working_without_a_restart_of_the_process(tmp_path):
    """GHSA-xmxx-7p24-h892: the old bearer was still accepted after rotation."""
    path = tmp_path / "moltbot.json"
    new_token = "rotated-token-9876543210"

    def write(token: str) -> None:
        path.write_text(json.dumps({"gateway": {"auth": {"token": token}, "reload": {"debounceMs": 50}},
                                    "canvasHost": {"enabled": False}}))

    write(TOKEN)
    with trio.fail_after(30):
        async with open_gateway(load_config(path, env={}), port=0, env={}, watch_config=True) as gateway:
            await gateway.watch_ready.wait()
            done = gateway.next_reload()
            write(new_token)
            await done.wait()
            async with open_raw(gateway.url) as ws:
                await ws.send(connect_frame(client=CLI))
                old = await ws.response("c1")
            async with open_raw(gateway.url) as ws:
                await ws.send(connect_frame(client=CLI, auth={"token": new_token}))
                new = await ws.response("c1")
    assert "mismatch" in old["error"]["message"] and new["ok"]


async def test_no_token_appears_in_what_the_gateway_logs_or_sends(gateway, caplog):
    """Open issue #9435: the token in URLs, logs or answers."""
    caplog.set_level(logging.DEBUG)
    base = gateway.url.replace("ws://", "http://", 1)
    with trio.fail_after(10):
        async with open_raw(gateway.url, handshake=False) as ws:
            await ws.send(connect_frame(auth={"token": TOKEN + "-wrong"}))
            wrong = json.dumps(await ws.response("c1"))
        async with open_raw(gateway.url) as ws:
            await ws.send(connect_frame())
            hello = json.dumps(await ws.response("c1"))
        async with httpx.AsyncClient(base_url=base) as http:
            answers = [await http.post("/tools/invoke", headers={"authorization": f"Bearer {TOKEN}-wrong"}, json={}),
                       await http.post(f"/v1/responses?token={TOKEN}", json={}),
                       await http.get(f"/nope?token={TOKEN}")]
    logged = [record.getMessage() for record in caplog.records if record.name.startswith(("moltbot", "hypercorn"))]
    for text in (wrong, hello, *logged, *(a.text for a in answers)):
        assert TOKEN not in text


def test_a_hooks_token_equal_to_the_gateway_token_is_refused_at_load():
    raw = {"gateway": {"auth": {"token": TOKEN}}, "hooks": {"enabled": True, "token": TOKEN}}
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert "hooks.token" in str(refused.value) and TOKEN not in str(refused.value)
    parse_config({**raw, "hooks": {"enabled": True, "token": "another-secret"}})

"""The gateway's log lines (issue 19, item 5): connections, auth failures, agent runs, HTTP access, at info;
calls, events and the connect frame at debug; never a secret; no start-up noise."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import trio

from moltbot.config.model import (
    AgentDefaults,
    AgentsConfig,
    AuthConfig,
    Config,
    GatewayConfig,
    ModelProviderConfig,
    ModelsConfig,
)
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN, connect_frame, installed_gateway_log, open_raw
from tests.fakes.openai import error_reply, open_fake_openai, text_reply

API_KEY = "sk-provider-key-never-logged-1234"
WRONG = "wrong-token-never-logged-5678"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def messages(path: Path) -> list[str]:
    return [entry["msg"] for entry in lines(path)]


async def wait_for_line(path: Path, predicate) -> str:
    """The first message satisfying ``predicate``, polled with a deadline (some lines follow the answer)."""
    with trio.fail_after(10):
        while not (found := [m for m in messages(path) if predicate(m)]):  # noqa: ASYNC110 (a file, bounded)
            await trio.sleep(0.02)
    return found[0]


def provider_config(tmp_path: Path, base_url: str) -> Config:
    return Config(
        gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path, path=tmp_path / "moltbot.json",
        agents=AgentsConfig(defaults=AgentDefaults(model="local/fake-model")),
        models=ModelsConfig(providers={"local": ModelProviderConfig(base_url=base_url, api_key=API_KEY,
                                                                    api="openai-completions")}))


def assert_no_secrets(path: Path) -> None:
    text = path.read_text("utf-8")
    for secret in (TOKEN, API_KEY, WRONG):
        assert secret not in text


@pytest.fixture
def info_log(tmp_path):
    with installed_gateway_log(Config(state_dir=tmp_path), verbose=False, env={}) as path:
        yield path


@pytest.fixture
def debug_log(tmp_path):
    with installed_gateway_log(Config(state_dir=tmp_path), verbose=True, env={}) as path:
        yield path


async def test_connect_and_disconnect_lines_name_client_mode_remote_duration_and_code(gateway, info_log):
    async with open_raw(gateway.url, handshake=True) as ws:
        await ws.call("health")
    gone = await wait_for_line(info_log, lambda m: m.startswith("client disconnected"))
    connected = next(m for m in messages(info_log) if m.startswith("client connected"))
    assert "client=test mode=test remote=127.0.0.1" in connected and "protocol=7" in connected
    assert "client=test mode=test remote=127.0.0.1" in gone
    assert "duration=" in gone and "code=1000" in gone
    assert_no_secrets(info_log)


async def test_an_auth_failure_is_logged_with_its_reason_never_the_secret(gateway, info_log):
    async with open_raw(gateway.url) as ws:
        frame = json.loads(connect_frame())
        frame["params"]["auth"] = {"token": WRONG}
        await ws.send(frame)
        assert (await ws.response("c1"))["ok"] is False
        await ws.closed()
    failed = [m for m in messages(info_log) if m.startswith("auth failed")]
    assert len(failed) == 1
    assert "remote=127.0.0.1" in failed[0] and "reason=token_mismatch" in failed[0] and "close 1008" in failed[0]
    assert_no_secrets(info_log)


async def test_http_access_lines_have_method_path_without_query_and_status(gateway, info_log):
    url = gateway.url.replace("ws://", "http://")
    async with httpx.AsyncClient() as http:
        with trio.fail_after(10):
            await http.get(f"{url}/no/such/thing?token={WRONG}")
            await http.post(f"{url}/tools/invoke", json={}, headers={"Authorization": f"Bearer {WRONG}"})
    await wait_for_line(info_log, lambda m: m.startswith("POST /tools/invoke"))
    access = [entry for entry in lines(info_log) if entry["logger"] == "moltbot.http"]
    assert any(e["msg"].startswith("GET /no/such/thing 404 ") and "remote=127.0.0.1" in e["msg"] for e in access)
    assert any(e["msg"].startswith("POST /tools/invoke 401 ") for e in access)
    assert all("?" not in e["msg"] for e in access)
    assert_no_secrets(info_log)


async def test_agent_runs_log_start_and_end_with_duration_and_tokens(tmp_path, info_log):
    async with open_fake_openai(text_reply("hello")) as fake:
        async with open_gateway(provider_config(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True) as ws:
                with trio.fail_after(30):
                    await ws.send({"type": "req", "id": "a1", "method": "agent",
                                   "params": {"message": "hi", "idempotencyKey": "run-1"}})
                    await ws.call("agent.wait", {"runId": "run-1", "timeoutMs": 20_000}, request_id="w1")
    found = messages(info_log)
    assert any(m.startswith("agent run run-1 started: agent=main") and "model=fake-model" in m for m in found)
    end = next(m for m in found if m.startswith("agent run run-1 ended"))
    assert "status=ok" in end and "duration=" in end and "tokens=5in/3out" in end
    assert_no_secrets(info_log)


async def test_a_failed_agent_run_logs_its_reason(tmp_path, info_log):
    async with open_fake_openai(error_reply(401, "Incorrect API key provided")) as fake:
        async with open_gateway(provider_config(tmp_path, fake.base_url), port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True) as ws:
                with trio.fail_after(30):
                    await ws.send({"type": "req", "id": "a1", "method": "agent",
                                   "params": {"message": "hi", "idempotencyKey": "run-2"}})
                    await ws.call("agent.wait", {"runId": "run-2", "timeoutMs": 20_000}, request_id="w1")
    end = next(m for m in messages(info_log) if m.startswith("agent run run-2 ended"))
    assert "status=error" in end and "Incorrect API key" in end
    # A provider's refusal is expected, told by the end line: no traceback for it in the log.
    assert not [entry for entry in lines(info_log) if "exc" in entry], [e["msg"] for e in lines(info_log)]
    assert_no_secrets(info_log)


async def test_verbose_logs_calls_events_and_the_connect_frame_without_auth(gateway, debug_log):
    async with open_raw(gateway.url, handshake=True) as ws:
        await ws.call("health", request_id="h1")
        await ws.call("no.such.method", request_id="h2")
    found = messages(debug_log)
    frame = next(m for m in found if m.startswith("connect frame from 127.0.0.1"))
    assert "client=test" in frame and "auth=token" in frame and "protocol=3..7" in frame
    assert any(m.startswith("call health id=h1 ") and " ok " in m for m in found)
    assert_no_secrets(debug_log)


async def test_no_start_up_noise(tmp_path, debug_log):
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=tmp_path,
                    path=tmp_path / "moltbot.json")
    async with open_gateway(config, port=0, env={}):
        pass
    found = messages(debug_log)
    assert any(m.startswith("gateway listening on") for m in found)
    assert not [m for m in found if "CTRL + C" in m or "next wake None" in m]

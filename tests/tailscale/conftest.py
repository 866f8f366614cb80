"""Fixtures for the Tailscale tests: a fake tailscaled on a short unix socket path, a gateway that asks it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import trio

from moltbot import open_gateway
from moltbot.config.model import AuthConfig, EndpointToggle, HttpConfig, HttpEndpoints, TailscaleConfig
from tests.conftest import TOKEN
from tests.fakes.tailscaled import open_fake_tailscaled

ALICE_IP = "100.101.102.103"
SERVE_HOST = "gateway-host.example-tailnet.ts.net"


@pytest.fixture
def socket_dir():
    # A unix socket path must stay under ~100 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def tailscaled(socket_dir):
    async with open_fake_tailscaled(socket_dir / "tailscaled.sock") as fake:
        fake.add_peer(
            ALICE_IP, login="alice@example.com", name="Alice Example", picture="https://example.com/alice.png"
        )
        yield fake


@pytest.fixture
def ts_config(make_config, tailscaled):
    return make_config(
        auth=AuthConfig(token=TOKEN, allow_tailscale=True),
        tailscale=TailscaleConfig(socket=tailscaled.socket_path),
        http=HttpConfig(endpoints=HttpEndpoints(chat_completions=EndpointToggle(enabled=True))),
    )


@pytest.fixture
async def ts_gateway(ts_config):
    with trio.fail_after(10):
        async with open_gateway(ts_config, port=0, env={}) as gw:
            yield gw


def serve_headers(
    *, ip: str = ALICE_IP, login: str = "alice@example.com", **extra: str
) -> list[tuple[str, str]]:
    """The headers Tailscale Serve adds when it proxies a tailnet client's request to the gateway."""
    headers = [
        ("X-Forwarded-For", ip),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", SERVE_HOST),
        ("Tailscale-User-Login", login),
        ("Tailscale-User-Name", "Alice Example"),
        ("Tailscale-User-Profile-Pic", "https://example.com/alice.png"),
    ]
    return headers + list(extra.items())


@pytest.fixture
def home(tmp_path):
    """An environment for a real ``moltbot`` process: HOME in ``tmp_path``, no CLAWDBOT_/MOLTBOT_ variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    return tmp_path, env

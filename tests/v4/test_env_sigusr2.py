"""SIGUSR2 (today's OpenClaw's in-place restart signal) restarts the gateway in-process as SIGUSR1 does."""

from __future__ import annotations

import json
import os
import signal

import trio

from moltbot.client import open_gateway_client
from moltbot.config.load import load_config
from moltbot.gateway.signals import run_gateway
from tests.conftest import TOKEN, open_raw


async def test_sigusr2_restarts_in_process(tmp_path):
    path = tmp_path / "moltbot.json"
    path.write_text(json.dumps({"gateway": {"auth": {"token": TOKEN}, "controlUi": {"enabled": False}},
                                "canvasHost": {"enabled": False}, "commands": {"restart": True}}))
    config = load_config(path, env={"MOLTBOT_STATE_DIR": str(tmp_path)})
    started: list = []
    ready = trio.Event()

    def on_started(gateway) -> None:
        started.append(gateway)
        ready.set()

    # Before run_gateway listens for it, a SIGUSR2 would end the test process: ignore it until then.
    previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: run_gateway(config, port=0, env={}, on_started=on_started))
            with trio.fail_after(10):
                await ready.wait()
            gateway = started[0]
            async with open_raw(gateway.url, handshake=True) as ws:
                os.kill(os.getpid(), signal.SIGUSR2)
                with trio.fail_after(10):
                    assert (await ws.event("shutdown"))["payload"]["reason"] == "gateway restarting"
            with trio.fail_after(10):
                async with open_gateway_client(gateway.url, token=TOKEN) as client:
                    assert (await client.call("health"))["ok"]
            assert gateway.stats.restarts == 1
            os.kill(os.getpid(), signal.SIGTERM)  # run_gateway's own graceful stop ends the nursery
    finally:
        signal.signal(signal.SIGUSR2, previous)

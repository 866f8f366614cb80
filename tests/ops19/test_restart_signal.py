"""SIGUSR1 and SIGUSR2 restart the gateway in-process by default (as the README, `gateway --help` and the
seed say); `commands.restart: false` turns external restarts off (logged, nothing restarts)."""

from __future__ import annotations

import json
import signal

import pytest
import trio

from tests.conftest import open_raw
from tests.ops19.helpers import TOKEN, start_gateway, write_profile_config


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGUSR2])
async def test_a_restart_signal_restarts_in_process_by_default(home, signum):
    tmp_path, env = home
    path = write_profile_config(tmp_path)
    assert "commands" not in json.loads(path.read_text())
    gateway, port = await start_gateway(env, "--port", "0")
    try:
        async with open_raw(f"ws://127.0.0.1:{port}", handshake=True, auth={"token": TOKEN}) as ws:
            gateway.process.send_signal(signum)
            with trio.fail_after(10):
                shutdown = await ws.event("shutdown")
                assert await ws.closed() == (1012, "service restart")
        assert shutdown["payload"] == {"reason": "gateway restarting", "restartExpectedMs": 1500}
        await gateway.wait_for(rf"restart done in \d+ ms \({signum.name}\)")
        assert "restart ignored" not in gateway.text
    finally:
        assert await gateway.stop() == 0


async def test_commands_restart_false_turns_external_restarts_off(home):
    tmp_path, env = home
    write_profile_config(tmp_path, commands={"restart": False})
    gateway, port = await start_gateway(env, "--port", "0")
    try:
        async with open_raw(f"ws://127.0.0.1:{port}", handshake=True, auth={"token": TOKEN}) as ws:
            gateway.process.send_signal(signal.SIGUSR1)
            await gateway.wait_for(r"SIGUSR1 restart ignored: commands\.restart is false")
            with trio.fail_after(10):
                assert (await ws.call("health"))["ok"]  # the same connection: nothing restarted
        assert "restarting in-process" not in gateway.text
    finally:
        assert await gateway.stop() == 0

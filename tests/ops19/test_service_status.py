"""`moltbot gateway status` where there is no service manager (a container): exit 0 when the gateway
answers, and say that no service manager exists; exit 1 when it does not answer."""

from __future__ import annotations

import trio

from tests.ops19.helpers import run_moltbot, start_gateway, write_profile_config


async def test_status_without_a_service_manager_exits_0_when_the_gateway_answers(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**env, "PATH": str(empty)}  # no systemctl: as in a container
    gateway, port = await start_gateway(env, "--port", "0")
    try:
        status = await trio.to_thread.run_sync(
            lambda: run_moltbot(env, "gateway", "status", "--url", f"ws://127.0.0.1:{port}"))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Service: unavailable: systemctl was not found" in status.stdout
        assert f"Gateway: answering at ws://127.0.0.1:{port} (pid {gateway.pid}" in status.stdout
        assert "No service manager here: the gateway runs outside a service" in status.stdout
    finally:
        assert await gateway.stop() == 0
    closed = await trio.to_thread.run_sync(
        lambda: run_moltbot(env, "gateway", "status", "--url", f"ws://127.0.0.1:{port}"))
    assert closed.returncode == 1 and "No service manager here" not in closed.stdout

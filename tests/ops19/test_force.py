"""`moltbot gateway --force` stops only a gateway of its own profile, found through the profile's lock;
any other process on the port (another profile's gateway, or not a gateway) is named and left running."""

from __future__ import annotations

import subprocess
import sys

import trio

from moltbot.client import open_gateway_client
from tests.ops19.helpers import (
    TOKEN,
    pick_free_port,
    run_moltbot_process,
    start_gateway,
    write_profile_config,
)


async def _answers(port: int) -> bool:
    with trio.fail_after(10):
        async with open_gateway_client(f"ws://127.0.0.1:{port}", token=TOKEN) as client:
            return (await client.call("health"))["ok"]


async def test_dev_force_on_the_default_profiles_port_names_it_and_stops_nothing(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    write_profile_config(tmp_path, "dev")
    port = pick_free_port()
    default, _ = await start_gateway(env, "--port", str(port))
    try:
        forced = await trio.to_thread.run_sync(
            lambda: run_moltbot_process(env, "--dev", "gateway", "--port", str(port), "--force"))
        assert forced.returncode == 1, forced.stderr
        assert f"port {port} is served by pid {default.pid}, the gateway of profile \"default\"" in forced.stderr
        assert "nothing was stopped" in forced.stderr and 'profile "dev"' in forced.stderr
        assert "Traceback" not in forced.stderr
        assert default.process.returncode is None and await _answers(port)
    finally:
        assert await default.stop() == 0


async def test_force_replaces_this_profiles_own_gateway_gracefully(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    port = pick_free_port()
    first, _ = await start_gateway(env, "--port", str(port))
    second = None
    try:
        second, second_port = await start_gateway(env, "--port", str(port), "--force")
        assert second_port == port
        assert f"--force: stopped this profile's gateway (pid {first.pid} on port {port}) with SIGTERM" in second.text
        with trio.fail_after(10):
            assert await first.process.wait() == 0  # its own graceful stop, not a KILL
        assert await _answers(port)
    finally:
        await first.stop()
        if second is not None:
            assert await second.stop() == 0


async def test_force_replaces_this_profiles_gateway_on_another_port(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    old_port, new_port = pick_free_port(), pick_free_port()
    first, _ = await start_gateway(env, "--port", str(old_port))
    second = None
    try:
        second, _ = await start_gateway(env, "--port", str(new_port), "--force")
        assert f"(pid {first.pid} on port {old_port}) with SIGTERM" in second.text
        with trio.fail_after(10):
            assert await first.process.wait() == 0
        assert await _answers(new_port)
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_force_names_a_program_that_is_not_a_gateway_and_leaves_it_running(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    squatter = await trio.lowlevel.open_process(
        [sys.executable, "-c", "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen();"
         "print(s.getsockname()[1], flush=True); sys.stdin.read()"], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    try:
        with trio.fail_after(10):
            port = int((await squatter.stdout.receive_some()).decode())
        forced = await trio.to_thread.run_sync(
            lambda: run_moltbot_process(env, "gateway", "--port", str(port), "--force"))
        assert forced.returncode == 1
        assert f"port {port} is served by pid {squatter.pid} (" in forced.stderr
        assert "not a moltbot gateway: nothing was stopped" in forced.stderr
        assert squatter.returncode is None and squatter.poll() is None
    finally:
        squatter.kill()
        await squatter.wait()


async def test_without_force_a_second_start_of_a_profile_suggests_force_for_this_profile_only(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    first, port = await start_gateway(env, "--port", str(pick_free_port()))
    try:
        second = await trio.to_thread.run_sync(lambda: run_moltbot_process(env, "gateway", "--port", "0"))
        assert second.returncode == 1
        assert f"gateway already running (pid {first.pid}, port {port})" in second.stderr
        assert "--force to replace this profile's gateway" in second.stderr
    finally:
        await first.stop()


async def test_force_does_not_stop_a_gateway_it_cannot_identify_by_a_lock_record(home):
    tmp_path, env = home
    write_profile_config(tmp_path)
    port = pick_free_port()
    unlocked, _ = await start_gateway({**env, "CLAWDBOT_ALLOW_MULTI_GATEWAY": "1"}, "--port", str(port))
    try:
        forced = await trio.to_thread.run_sync(
            lambda: run_moltbot_process(env, "gateway", "--port", str(port), "--force"))
        assert forced.returncode == 1
        assert f"pid {unlocked.pid} (" in forced.stderr and "a moltbot gateway without a lock record" in forced.stderr
        assert unlocked.process.returncode is None and await _answers(port)
    finally:
        assert await unlocked.stop() == 0

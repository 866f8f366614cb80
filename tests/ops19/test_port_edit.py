"""A `gateway.port` edit in the file moves the listener (a start-time `--port` pins it, and the log says
so); `doctor` fails when the port served is not the configured one. Real processes, real sockets."""

from __future__ import annotations

import json

import trio

from moltbot.client import open_gateway_client
from tests.ops19.helpers import TOKEN, pick_free_ports, run_moltbot, start_gateway, write_profile_config


def _set_port(path, port: int) -> None:
    data = json.loads(path.read_text())
    data["gateway"]["port"] = port
    path.write_text(json.dumps(data, indent=2))


async def _answers(port: int) -> bool:
    with trio.fail_after(10):
        async with open_gateway_client(f"ws://127.0.0.1:{port}", token=TOKEN) as client:
            return (await client.call("health"))["ok"]


async def _refused(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return True
    await stream.aclose()
    return False


def _doctor(env) -> tuple[int, list[dict]]:
    done = run_moltbot(env, "doctor", "--json")
    return done.returncode, json.loads(done.stdout)["findings"]


async def test_a_port_edit_in_the_file_moves_the_listener_and_doctor_agrees(home):
    tmp_path, env = home
    old_port, new_port = pick_free_ports(2)
    path = write_profile_config(tmp_path, gateway={"port": old_port})
    gateway, port = await start_gateway(env)
    try:
        assert port == old_port and f"port {old_port} from gateway.port" in gateway.text
        await gateway.wait_for(r"watching .* for changes")
        mark = len(gateway.text)
        _set_port(path, new_port)
        await gateway.wait_for(rf"listener moved from 127\.0\.0\.1:{old_port} to 127\.0\.0\.1:{new_port}", start=mark)
        await gateway.wait_for(rf"restart done in \d+ ms \(config change: gateway\.port\); serving port {new_port} "
                               r"from gateway\.port", start=mark)
        await gateway.wait_for(rf"moltbot gateway listening on ws://127\.0\.0\.1:{new_port}", start=mark)
        assert await _answers(new_port) and await _refused(old_port)
        _, findings = await trio.to_thread.run_sync(lambda: _doctor(env))
        lock = [finding for finding in findings if finding["check"] == "lock"]
        assert lock[0]["status"] == "ok" and f"(port {new_port})" in lock[0]["detail"]
        assert not [finding for finding in findings if finding["check"] == "port" and finding["status"] == "fail"]
    finally:
        assert await gateway.stop() == 0


async def test_a_start_time_port_pins_the_listener_the_log_says_why_and_doctor_fails(home):
    tmp_path, env = home
    pinned, edited = pick_free_ports(2)
    path = write_profile_config(tmp_path, gateway={"port": pinned})
    gateway, _ = await start_gateway(env, "--port", str(pinned))
    try:
        assert f"port {pinned} from --port, which pins it" in gateway.text
        await gateway.wait_for(r"watching .* for changes")
        mark = len(gateway.text)
        _set_port(path, edited)
        await gateway.wait_for(rf"gateway\.port is now {edited} in the file, but --port pins the listener: "
                               rf"still serving port {pinned}", start=mark)
        await gateway.wait_for(rf"serving port {pinned} from --port, which pins it \(gateway\.port in the file is "
                               rf"{edited}\)", start=mark)
        assert await _answers(pinned)
        returncode, findings = await trio.to_thread.run_sync(lambda: _doctor(env))
        failed = [finding["detail"] for finding in findings if finding["status"] == "fail"]
        assert returncode == 1
        assert any(f"serves port {pinned} (pinned by --port at its start), but the configured port is {edited}"
                   in detail for detail in failed), failed
    finally:
        assert await gateway.stop() == 0

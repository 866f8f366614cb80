"""Hot reload from real file edits and in-process restart, observed through the WebSocket."""

import json
import os

import pytest
import trio
import trio.testing

from moltbot.client import open_gateway_client
from moltbot.config.load import load_config
from moltbot.gateway.app import open_gateway
from moltbot.gateway.sentinel import sentinel_path, write_restart_sentinel
from tests.conftest import TOKEN, open_raw
from tests.conftest import reload_after as edit


def base_config(**gateway):
    # The canvas host is off: a gateway on a fixed port would put it on that port + 4.
    return {"gateway": {"auth": {"token": TOKEN}, "reload": {"debounceMs": 50}, **gateway},
            "canvasHost": {"enabled": False}}


def write_json(path, data):
    path.write_text(json.dumps(data))


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "moltbot.json"
    write_json(path, base_config())
    return path


@pytest.fixture
async def watched(config_file):
    config = load_config(config_file, env={})
    async with open_gateway(config, port=0, env={}, watch_config=True) as gateway:
        with trio.fail_after(5):
            await gateway.watch_ready.wait()
        yield gateway


async def test_hot_change_applies_without_disconnecting(watched, config_file):
    async with open_gateway_client(watched.url, token=TOKEN) as client:
        data = base_config()
        data["agents"] = {"defaults": {"maxConcurrent": 7}}
        assert await edit(watched, lambda: write_json(config_file, data)) == "hot"
        lanes = {lane["lane"]: lane for lane in (await client.call("status"))["lanes"]}
    assert lanes["main"]["maxConcurrent"] == 7
    assert watched.stats.restarts == 0


async def test_restart_change_sends_shutdown_closes_1012_and_reconnect_is_accepted(watched, config_file):
    port, pid = watched.port, os.getpid()
    async with open_raw(watched.url, handshake=True) as ws:
        await edit(watched, lambda: write_json(config_file, base_config(tickIntervalMs=20_000)))
        with trio.fail_after(5):
            shutdown = await ws.event("shutdown")
            assert await ws.closed() == (1012, "service restart")
    assert shutdown["payload"] == {"reason": "gateway restarting", "restartExpectedMs": 1500}
    with trio.fail_after(5):
        async with open_gateway_client(watched.url, token=TOKEN) as client:  # right away, same port
            assert client.hello.policy.tick_interval_ms == 20_000
            status = await client.call("status")
    assert watched.port == port and status["gateway"]["pid"] == pid and watched.stats.restarts == 1


async def test_invalid_edit_keeps_last_good_config(watched, config_file):
    assert await edit(watched, lambda: config_file.write_text('{gateway: {port: "nope"')) == "invalid"
    async with open_gateway_client(watched.url, token=TOKEN) as client:
        assert (await client.call("health"))["ok"]
    data = base_config()
    data["models"] = {"providers": {}}
    assert await edit(watched, lambda: write_json(config_file, data)) == "hot"
    assert watched.stats.reload_failures == 1 and watched.stats.restarts == 0


async def test_save_by_rename_is_seen(watched, config_file):
    data = base_config()
    data["session"] = {"mainKey": "work"}

    def save_by_rename():
        temp = config_file.with_name(".moltbot.json.swp")
        write_json(temp, data)
        os.replace(temp, config_file)

    assert await edit(watched, save_by_rename) == "hot"
    assert watched.config.session.main_key == "work"


async def test_truncate_then_write_and_repeated_saves_reload_once(watched, config_file):
    data = base_config()
    data["messages"] = {"queue": {"cap": 5}}
    done = watched.next_reload()
    with config_file.open("w") as handle:  # truncate, then write in pieces, then save twice more
        handle.write('{"gateway": ')
        handle.flush()
        handle.write(json.dumps(data["gateway"]) + ', "messages": {"queue": {"cap": 4}}}')
    write_json(config_file, data)
    write_json(config_file, data)
    with trio.fail_after(10):
        await done.wait()
    assert watched.last_reload == "hot" and watched.config.messages.queue.cap == 5
    assert watched.stats.reloads == 1 and watched.stats.reload_failures == 0


async def test_our_own_rewrite_of_an_unchanged_config_is_a_no_op(watched, config_file):
    assert await edit(watched, lambda: config_file.write_text(json.dumps(base_config(), indent=2) + "\n")) == "nothing"
    assert watched.stats.restarts == 0


async def test_reload_mode_off_applies_nothing(config_file):
    off = {"mode": "off", "debounceMs": 50}
    write_json(config_file, base_config(reload=off))
    config = load_config(config_file, env={})
    async with open_gateway(config, port=0, env={}, watch_config=True) as gateway:
        await gateway.watch_ready.wait()
        changed = base_config(reload=off, tickIntervalMs=1000)
        assert await edit(gateway, lambda: write_json(config_file, changed)) == "disabled"
        assert gateway.stats.restarts == 0 and gateway.config.gateway.tick_interval_ms == 30_000


async def test_sigusr1_restarts_unless_commands_restart_is_false(config_file):
    write_json(config_file, {**base_config(), "commands": {"restart": False}})
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        assert gateway.handle_sigusr1() is False
    write_json(config_file, base_config())  # unset: external restarts allowed (issue 19)
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as ws:
            assert gateway.handle_sigusr1() is True
            with trio.fail_after(5):
                assert (await ws.event("shutdown"))["payload"]["reason"] == "gateway restarting"
        with trio.fail_after(5):
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                assert (await client.call("health"))["ok"]
        assert gateway.stats.restarts == 1


async def test_requests_during_a_restart_merge_into_one_restart_after_it(config_file, monkeypatch):
    """Two requests that arrive while a restart runs are served together once it is done: one restart
    with both reasons and the later request's config (the request loop, with the restart held open)."""
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        served, release, other = [], trio.Event(), gateway.config

        async def held_restart(request):
            served.append(request)
            if len(served) == 1:
                await release.wait()

        monkeypatch.setattr(gateway, "_restart", held_restart)
        gateway.request_restart("first")
        with trio.fail_after(5):
            await trio.testing.wait_all_tasks_blocked()
        assert [request.reason for request in served] == ["first"]
        gateway.request_restart("second", config=other)
        gateway.request_restart("third")
        release.set()
        with trio.fail_after(5):
            while len(served) < 2:
                await trio.testing.wait_all_tasks_blocked()
        await trio.testing.wait_all_tasks_blocked()
        assert [request.reason for request in served] == ["first", "second; third"]
        assert served[1].config is other


async def test_a_stop_among_queued_requests_wins(config_file, monkeypatch):
    """A stop queued with restarts stops the gateway without restarting it first."""
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        restarts = []
        monkeypatch.setattr(gateway, "_restart", restarts.append)  # awaiting its None would raise
        gateway.request_restart("before the stop")
        gateway.request_stop("test stop")
        gateway.request_restart("after the stop")
        with trio.fail_after(5):
            await gateway.stop()
        assert restarts == [] and not gateway.accepting


async def test_concurrent_restart_requests_restart_once(config_file):
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as ws:
            gateway.request_restart("config change")
            gateway.request_restart("SIGUSR1")
            with trio.fail_after(5):
                await ws.closed()
        with trio.fail_after(5):
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("health")
        assert gateway.stats.restarts == 1


async def test_scheduled_restart_reports_and_happens(config_file):
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        async with open_raw(gateway.url, handshake=True) as ws:
            scheduled = gateway.schedule_restart(delay_ms=30, reason="  tool asked  ")
            with trio.fail_after(5):
                await ws.event("shutdown")
    assert scheduled == {"ok": True, "pid": os.getpid(), "signal": "SIGUSR1", "delayMs": 30, "mode": "emit",
                         "reason": "tool asked"}


async def test_restart_sentinel_is_consumed_into_a_system_event(config_file, tmp_path):
    config = load_config(config_file, env={"HOME": str(tmp_path), "CLAWDBOT_STATE_DIR": str(tmp_path)})
    async with open_gateway(config, port=0, env={}) as gateway:
        write_restart_sentinel(tmp_path, kind="restart", message="after update")
        async with open_raw(gateway.url, handshake=True) as ws:
            gateway.request_restart("test")
            with trio.fail_after(5):
                await ws.closed()
        with trio.fail_after(5):
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                events = (await client.call("status"))["queuedSystemEvents"]
    assert events[0].startswith("GatewayRestart:\n") and '"message": "after update"' in events[0]
    assert not sentinel_path(tmp_path).exists()


async def test_port_change_rebinds_the_listener(config_file):
    # Starts on port 0 from the file (not the default 18789, which another gateway on this machine may hold);
    # the browser control service is off, as it would take ports derived from the new fixed one.
    write_json(config_file, {**base_config(port=0), "browser": {"enabled": False}})
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        new_port = probe.getsockname()[1]
    async with open_gateway(load_config(config_file, env={}), env={}) as gateway:
        assert gateway.port not in (0, new_port)
        restarted = gateway.next_restart()
        gateway.request_restart("port", config=load_config(config_file, env={}).with_gateway(port=new_port))
        with trio.fail_after(5):
            await restarted.wait()
        assert gateway.port == new_port
        async with open_gateway_client(f"ws://127.0.0.1:{new_port}", token=TOKEN) as client:
            assert (await client.call("health"))["ok"]


async def test_restart_lets_runs_in_flight_finish_and_refuses_new_ones(config_file):
    async with open_gateway(load_config(config_file, env={}), port=0, env={}) as gateway:
        runtime = gateway.runtime
        finished, results = trio.Event(), []

        async def run(seconds):
            try:
                async with runtime.runs.open_run("agent"):
                    await trio.sleep(seconds)
                results.append("done")
            except Exception as exc:
                results.append(str(exc))
            if len(results) == 2:
                finished.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, 0.2)
            await trio.testing.wait_all_tasks_blocked()
            restarted = gateway.next_restart()
            gateway.request_restart("test", config=gateway.config)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(run, 0)  # arrives while draining: refused
            with trio.fail_after(5):
                await finished.wait()
                await restarted.wait()
    assert sorted(results) == ["done", "gateway is restarting; retry agent shortly"]


async def test_runs_past_the_drain_deadline_are_cancelled_with_a_clear_error(tmp_path):
    path = tmp_path / "moltbot.json"
    write_json(path, base_config(restartDrainMs=50))
    async with open_gateway(load_config(path, env={}), port=0, env={}) as gateway:
        runtime, outcome = gateway.runtime, []

        async def long_run():
            try:
                async with runtime.runs.open_run("agent"):
                    await trio.sleep_forever()
            except Exception as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_run)
            await trio.testing.wait_all_tasks_blocked()
            restarted = gateway.next_restart()
            gateway.request_restart("test")
            with trio.fail_after(5):
                await restarted.wait()
    assert [(e.code, e.message) for e in outcome] == [("UNAVAILABLE", "run cancelled: gateway restarting")]


async def test_rebind_to_a_busy_port_stays_on_the_old_one(config_file):
    write_json(config_file, base_config(port=0))
    async with open_gateway(load_config(config_file, env={}), env={}) as gateway:
        old_port = gateway.port
        unchanged = gateway.next_restart()
        gateway.request_restart("same config, port 0")
        with trio.fail_after(10):
            await unchanged.wait()
        assert gateway.port == old_port  # port 0 is resolved once, not again on each restart
        with trio.socket.socket() as squatter:
            await squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            busy = squatter.getsockname()[1]
            restarted = gateway.next_restart()
            gateway.request_restart("port", config=load_config(config_file, env={}).with_gateway(port=busy))
            with trio.fail_after(10):
                await restarted.wait()
        assert gateway.port == old_port
        async with open_gateway_client(gateway.url, token=TOKEN) as client:
            assert (await client.call("health"))["ok"]

"""Cron across gateway stops, in-process restarts and hot reloads, on a real gateway (real clock)."""

import json
import time

import attrs
import trio

from moltbot.client import open_gateway_client
from moltbot.config.model import CronConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN


def now_ms() -> int:
    return int(time.time() * 1000)


def job(name, schedule, **extra):
    return {"name": name, "schedule": schedule, "payload": {"kind": "systemEvent", "text": name}, **extra}


async def wait_until_ms(target: int) -> None:
    await trio.sleep(max(0.0, (target - now_ms()) / 1000))


def run_log(tmp_path, job_id) -> list[dict]:
    path = tmp_path / "cron" / "runs" / f"{job_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_job_due_while_the_gateway_is_stopped_runs_once_when_it_starts(config, tmp_path):
    with trio.fail_after(20):
        async with open_gateway(config, port=0, env={}) as first:
            async with open_gateway_client(first.url, token=TOKEN) as c:
                added = await c.call("cron.add", job("wake-up", {"atMs": now_ms() + 3_600_000}))
        # An hour passes while the gateway is stopped: the job's time is now in the past.
        store = tmp_path / "cron" / "jobs.json"
        data = json.loads(store.read_text())
        due = now_ms() - 5_000
        data["jobs"][0]["schedule"]["atMs"] = data["jobs"][0]["state"]["nextRunAtMs"] = due
        store.write_text(json.dumps(data))
        async with open_gateway(config, port=0, env={}) as second:
            async with open_gateway_client(second.url, token=TOKEN) as c:
                while not run_log(tmp_path, added["id"]):  # noqa: ASYNC110 (poll a file, bounded above)
                    await trio.sleep(0.05)
                (listed,) = (await c.call("cron.list", {"includeDisabled": True}))["jobs"]
    (entry,) = run_log(tmp_path, added["id"])
    assert entry["status"] == "ok" and entry["runAtMs"] > due
    assert second.system_events.count("wake-up") == 1 and "wake-up" not in first.system_events
    assert listed["enabled"] is False


async def test_in_process_restarts_neither_repeat_nor_lose_runs(gateway, tmp_path):
    with trio.fail_after(30):
        async with open_gateway_client(gateway.url, token=TOKEN) as c:
            added = await c.call("cron.add", job("pulse", {"everyMs": 400}))
        anchor = added["createdAtMs"]
        for _ in range(3):
            await trio.sleep(0.5)
            done = gateway.next_restart()
            gateway.request_restart("test: restart while cron runs", gateway.config)
            await done.wait()
        await trio.sleep(0.5)
        async with open_gateway_client(gateway.url, token=TOKEN) as c:
            await c.call("cron.update", {"id": added["id"], "patch": {"enabled": False}})
    entries = run_log(tmp_path, added["id"])
    slots = [(entry["runAtMs"] - anchor) // 400 for entry in entries]
    assert len(slots) == len(set(slots)), slots  # no occurrence ran twice
    assert gateway.stats.restarts == 3
    assert len(entries) >= 3  # late runs coalesce the slots they missed, by design


async def test_hot_reload_of_the_store_path_switches_stores(gateway, config, tmp_path):
    async with open_gateway_client(gateway.url, token=TOKEN) as c:
        await c.call("cron.add", job("in the first store", {"everyMs": 3_600_000}))
        other = tmp_path / "elsewhere" / "jobs.json"
        gateway.runtime.apply_config(attrs.evolve(config, cron=CronConfig(store=str(other))), ("reload-cron",))
        with trio.fail_after(5):
            while (status := await c.call("cron.status"))["storePath"] != str(other):  # noqa: ASYNC110
                await trio.sleep(0.02)  # the scheduler switches stores between its sleeps
        assert status["jobs"] == 0
        await c.call("cron.add", job("in the second store", {"everyMs": 3_600_000}))
    assert json.loads(other.read_text())["jobs"][0]["name"] == "in the second store"


async def test_skip_cron_env_disables_the_scheduler_but_not_the_methods(config, tmp_path):
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={"CLAWDBOT_SKIP_CRON": "1"}) as gateway:
            async with open_gateway_client(gateway.url, token=TOKEN) as c:
                added = await c.call("cron.add", job("quiet", {"atMs": now_ms() + 100}))
                await trio.sleep(0.4)
                status = await c.call("cron.status")
                assert run_log(tmp_path, added["id"]) == []
                assert (await c.call("cron.run", {"id": added["id"]}))["ran"] is True  # due: runs on request
    assert status["enabled"] is False and status["nextWakeAtMs"] is None

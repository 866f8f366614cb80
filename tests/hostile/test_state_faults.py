"""Config and state faults keep the gateway up (issue 15, §8).

The config is the one ``moltbot setup`` writes (the token is in it), the watcher is on, and the faults
come while the gateway runs: the file emptied, the file deleted, the whole state dir removed. Each is an
invalid edit: the last good config stays, the log says what happened and how to fix it, a client with
the token still gets in, and what the gateway writes afterwards lands in a state dir made again 0700.
"""

import json
import logging
import shutil
import stat

import pytest
import trio

from moltbot.cli.setup import ensure_setup
from moltbot.config.load import load_config
from moltbot.gateway.app import open_gateway
from moltbot.gateway.sentinel import sentinel_path
from tests.conftest import installed_gateway_log, open_raw
from tests.conftest import reload_after as fault

JOB = {"name": "after", "schedule": {"kind": "every", "everyMs": 3_600_000}, "sessionTarget": "main",
       "wakeMode": "next-heartbeat", "payload": {"kind": "systemEvent", "text": "hi"}}


@pytest.fixture
def state(tmp_path):
    """A state dir and config as ``moltbot setup`` makes them (the canvas host off, a short debounce)."""
    state_dir = tmp_path / "state"
    path = state_dir / "moltbot.json"
    ensure_setup(path, state_dir, workspace=None, mode="local")
    raw = json.loads(path.read_text())
    raw["canvasHost"] = {"enabled": False}
    raw["gateway"]["reload"] = {"debounceMs": 50}
    path.write_text(json.dumps(raw, indent=2))
    return state_dir


@pytest.fixture
def env(state):
    return {"CLAWDBOT_STATE_DIR": str(state)}


@pytest.fixture
def token(state):
    return json.loads((state / "moltbot.json").read_text())["gateway"]["auth"]["token"]


@pytest.fixture
async def watched(state, env):
    config = load_config(state / "moltbot.json", env=dict(env))
    assert config.state_dir == state
    async with open_gateway(config, port=0, env=env, watch_config=True) as gateway:
        with trio.fail_after(10):
            await gateway.watch_ready.wait()
        yield gateway


@pytest.fixture
def log_file(state, env):
    """The gateway's own log file (``<state>/logs/gateway.log``), as ``moltbot gateway`` installs it."""
    config = load_config(state / "moltbot.json", env=dict(env))
    with installed_gateway_log(config, verbose=False, env=env) as path:
        yield path


async def assert_serving(gateway, token):
    """A client with the token gets in; ``health`` answers; session, cron and pairing writes succeed."""
    with trio.fail_after(20):
        async with open_raw(gateway.url, handshake=True, auth={"token": token}) as client:
            health = await client.call("health", request_id="h")
            patched = await client.call("sessions.patch", {"key": "main", "label": "after"}, request_id="p")
            added = await client.call("cron.add", JOB, request_id="c")
            paired = await client.call("node.pair.request", {"nodeId": "node-after"}, request_id="n")
    assert health["ok"], health
    assert patched["ok"], patched
    assert added["ok"], added
    assert paired["ok"], paired


def error_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_emptied_config_keeps_the_last_good_config_logs_why_and_serves(watched, state, token, caplog):
    assert await fault(watched, lambda: (state / "moltbot.json").write_text("")) == "invalid"
    await assert_serving(watched, token)
    [line] = [m for m in error_lines(caplog) if "config reload skipped" in m]
    assert "is empty" in line and "keeps its last good config" in line and "moltbot setup" in line


async def test_deleted_config_keeps_serving_and_a_restored_file_applies(watched, state, token, caplog):
    path = state / "moltbot.json"
    good = path.read_text()
    assert await fault(watched, path.unlink) == "invalid"
    await assert_serving(watched, token)
    assert any("was removed" in m and "keeps its last good config" in m for m in error_lines(caplog))
    restored = json.loads(good)
    restored["agents"] = {"defaults": {"maxConcurrent": 7}}
    assert await fault(watched, lambda: path.write_text(json.dumps(restored))) == "hot"


async def test_config_without_its_token_is_an_invalid_edit(watched, state, token):
    path = state / "moltbot.json"
    raw = json.loads(path.read_text())
    del raw["gateway"]["auth"]["token"]
    assert await fault(watched, lambda: path.write_text(json.dumps(raw))) == "invalid"
    await assert_serving(watched, token)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


async def test_removed_state_dir_is_made_again_0700_and_the_gateway_goes_on(log_file, watched, state, token):
    assert log_file == state / "logs" / "gateway.log"
    assert await fault(watched, lambda: shutil.rmtree(state)) == "invalid"
    await assert_serving(watched, token)
    assert mode(state) == 0o700
    for written in (state / "agents" / "main" / "sessions" / "sessions.json", state / "cron" / "jobs.json",
                    state / "nodes" / "pending.json"):
        assert written.is_file()
        for directory in written.relative_to(state).parents:
            assert mode(state / directory) == 0o700, directory
    text = log_file.read_text()
    assert "was removed while the gateway runs" in text and "moltbot setup" in text
    assert mode(log_file) == 0o600 and mode(log_file.parent) == 0o700


async def test_after_the_state_dir_is_removed_a_new_config_file_is_still_seen(watched, state, env):
    path = state / "moltbot.json"
    restored = json.loads(path.read_text())
    restored["agents"] = {"defaults": {"maxConcurrent": 7}}
    assert await fault(watched, lambda: shutil.rmtree(state)) == "invalid"
    with trio.fail_after(20):  # the watch of the made-again directory starts soon: write until it is seen
        while True:
            done = watched.next_reload()
            # Not before the directory is there again (the watcher, or the delivery store, makes it again).
            wrote = await trio.to_thread.run_sync(
                lambda: path.parent.is_dir() and path.write_text(json.dumps(restored)))
            with trio.move_on_after(1):
                await done.wait()
            if wrote and done.is_set() and watched.last_reload != "invalid":
                break
    assert watched.last_reload == "hot"


async def test_an_unreadable_restart_sentinel_does_not_stop_the_gateway(make_config, tmp_path):
    sentinel_path(tmp_path).mkdir()  # reading it fails with EISDIR, and so does removing it
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        with trio.fail_after(10):
            async with open_raw(gateway.url, handshake=True) as client:
                assert (await client.call("health"))["ok"]

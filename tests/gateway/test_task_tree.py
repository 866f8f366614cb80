"""The gateway's task tree: who owns every long-lived task, and that connections live in their Runtime.

The tree is read from Trio itself (``trio.lowlevel`` tasks and their child nurseries), from the task named
``gateway`` down, so a change to the shape (a task moved to another owner, a new long-lived task, a
connection served outside its Runtime) shows in this file's diff.
"""

from __future__ import annotations

import json

import trio
import trio.testing

from moltbot.config.model import CanvasHostConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import open_raw

# name → children (a list: one entry per task, so two connections would be two "connection" entries).
# hypercorn's own tasks are listed as hypercorn names them: the listener and the canvas host are
# hypercorn servers. The client's WebSocket is one task in the Runtime ("connection"): the listener's task
# for its socket ended once it was upgraded (gateway.upgrade), and nothing of hypercorn's serves it.
EXPECTED = {"gateway": [
    {"canvas": [
        {"moltbot.canvas.server._serve_in.<locals>.run_server": [
            "hypercorn.trio.lifespan.Lifespan.handle_lifespan",
            "hypercorn.utils.raise_shutdown",
            "hypercorn.utils.raise_shutdown",
            {"trio.serve_listeners": ["trio._highlevel_serve_listeners._serve_one_listener"]},
        ]},
    ]},
    {"config-watch": [
        "moltbot.config.watch.serve_config_watch.<locals>.settle",
        "moltbot.config.watch.serve_config_watch.<locals>.watch",
    ]},
    {"listener": [
        "hypercorn.trio.lifespan.Lifespan.handle_lifespan",
        "hypercorn.utils.raise_shutdown",
        "hypercorn.utils.raise_shutdown",
        {"trio.serve_listeners": ["trio._highlevel_serve_listeners._serve_one_listener"]},
    ]},
    {"runtime": [
        "agents",
        "browser",
        {"channels": [
            "moltbot.channels.inbound.Dispatcher.serve",
            "moltbot.channels.liveness.serve_liveness",
            "moltbot.channels.manager.ChannelManager._serve_approvals",
            "moltbot.delivery.outbox.Outbox.serve",
        ]},
        {"connections": ["connection"]},
        "cron",
        "health",
        "heartbeat",
        "presence",
        "ticks",
    ]},
]}


def ordered(tree: str | dict) -> str | dict:
    """``tree`` with every list of children in one order (tasks in a nursery have none)."""
    if isinstance(tree, str):
        return tree
    ((name, children),) = tree.items()
    return {name: sorted((ordered(child) for child in children), key=json.dumps)}


def shape(task: trio.lowlevel.Task) -> str | dict:
    """A task as its name, or ``{name: [children]}`` when it has children."""
    children = [shape(child) for nursery in task.child_nurseries for child in nursery.child_tasks]
    return ordered({task.name: children}) if children else task.name


def find(task: trio.lowlevel.Task, name: str) -> trio.lowlevel.Task | None:
    if task.name == name:
        return task
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found = find(child, name)
            if found is not None:
                return found
    return None


def count(task: trio.lowlevel.Task, name: str) -> int:
    return (task.name == name) + sum(count(child, name) for nursery in task.child_nurseries
                                     for child in nursery.child_tasks)


def gateway_task() -> trio.lowlevel.Task:
    task = find(trio.lowlevel.current_root_task(), "gateway")
    assert task is not None, "no task named gateway"
    return task


async def settled_shape() -> str | dict:
    """The tree once it holds still (a start-up task such as a first health refresh may still be ending)."""
    with trio.fail_after(5):
        while True:
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            first = shape(gateway_task())
            await trio.sleep(0.05)
            if shape(gateway_task()) == first:
                return first


async def test_the_task_tree_of_a_running_gateway_with_one_client(make_config, tmp_path):
    config = make_config(canvas_host=CanvasHostConfig(root=str(tmp_path / "canvas"), port=0))
    config.path.write_text(json.dumps({"gateway": {"auth": {"token": "unused-by-this-test"}}}))
    with trio.fail_after(15):
        async with open_gateway(config, port=0, env={}, watch_config=True) as gateway:
            await gateway.watch_ready.wait()
            async with open_raw(gateway.url, handshake=True):
                assert await settled_shape() == ordered(EXPECTED)


async def test_a_restart_closes_connections_1012_and_no_connection_task_outlives_its_runtime(gateway):
    async with open_raw(gateway.url, handshake=True) as ws:
        old = gateway.runtime
        assert old.connection_nursery is not None and len(old.connection_nursery.child_tasks) == 1
        done = gateway.next_restart()
        gateway.request_restart("test", gateway.config)
        assert await ws.closed() == (1012, "service restart")
        await done.wait()
    assert gateway.runtime is not old and old.connection_nursery is None
    assert count(gateway_task(), "connection") == 0


async def test_cancelling_the_runtime_ends_its_connections_after_a_1012_close(gateway):
    async with open_raw(gateway.url, handshake=True) as first, open_raw(gateway.url, handshake=True) as second:
        assert count(gateway_task(), "connection") == 2
        gateway.runtime_child.cancel("test: the Runtime's scope cancelled, no drain")
        assert await first.closed() == (1012, "service restart")
        assert await second.closed() == (1012, "service restart")
        await gateway.runtime_child.wait_stopped()
        assert count(gateway_task(), "connection") == 0 and find(gateway_task(), "runtime") is None
        assert not gateway.runtime.broadcaster.connections


async def test_health_responses_are_the_summary_encoded_once_and_byte_identical(gateway):
    from moltbot.gateway.connection import encoded
    from moltbot.protocol import ResponseFrame, encode_frame

    async with open_raw(gateway.url, handshake=True) as ws:
        for request_id in ("h1", 'h"2\u00e9'):
            await ws.send(json.dumps({"type": "req", "id": request_id, "method": "health"}))
            while True:  # the raw text, to compare bytes and not parsed values
                text = await ws.ws.get_message()
                if json.loads(text).get("id") == request_id:
                    break
            summary = gateway.runtime.health.summary
            assert text == encode_frame(ResponseFrame(id=request_id, ok=True, payload=summary))
            assert encoded(summary) is encoded(summary)  # encoded once while the summary is the same

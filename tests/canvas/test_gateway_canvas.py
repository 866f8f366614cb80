"""The canvas host inside a real gateway: hello-ok.canvasHostUrl, disabled by config and env, a busy
port, rebuilt on a canvasHost change in the config file, kept across unrelated restarts, stopped with
the gateway."""

from __future__ import annotations

import functools
import json
import logging
import os
import re

import attrs
import pytest
import trio
from trio_websocket import open_websocket_url

from moltbot.config.load import load_config
from moltbot.config.model import CanvasHostConfig
from moltbot.config.ports import DEFAULT_CANVAS_HOST_PORT
from moltbot.gateway.app import open_gateway, serve_gateway
from moltbot.gateway.runtime import Runtime
from moltbot.gateway.transport import Peer
from tests.canvas.helpers import raw_request
from tests.cli.helpers import start_gateway
from tests.conftest import TOKEN, connect_frame, open_raw

MOUNT = "/__moltbot__/canvas/"


async def hello(gateway) -> dict:
    async with open_raw(gateway.url) as client:
        await client.send(connect_frame())
        response = await client.response("c1")
    assert response["ok"], response
    return response["payload"]


async def free_port() -> int:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def refused(url: str) -> bool:
    try:
        await raw_request(url, MOUNT)
    except OSError:
        return True
    return False


@pytest.fixture
def canvas_config(make_config, tmp_path):
    return make_config(canvas_host=CanvasHostConfig(root=str(tmp_path / "canvas")))


async def test_hello_ok_carries_the_canvas_url_and_it_serves_the_canvas(canvas_config, tmp_path):
    async with open_gateway(canvas_config, port=0, env={}) as gateway:
        url = (await hello(gateway))["canvasHostUrl"]
        assert url == gateway.canvas.url
        port = int(url.rsplit(":", 1)[1])
        # Port 0 for the gateway means port 0 for the canvas: a free port, never 4 or 18793.
        assert port not in (0, 4, DEFAULT_CANVAS_HOST_PORT, gateway.port)
        assert gateway.canvas.settings.port == 0
        response = await raw_request(url, MOUNT)
        assert response.status == 200 and "Moltbot Canvas" in response.text
        assert (tmp_path / "canvas" / "index.html").exists()
    assert await refused(url)  # it stops with the gateway


async def test_canvas_host_off_by_config(make_config):
    async with open_gateway(make_config(), port=0, env={}) as gateway:
        assert "canvasHostUrl" not in await hello(gateway)
        assert gateway.canvas.url is None and gateway.canvas.last_error is None


async def test_canvas_host_off_by_env(canvas_config, tmp_path):
    async with open_gateway(canvas_config, port=0, env={"CLAWDBOT_SKIP_CANVAS_HOST": "1"}) as gateway:
        assert "canvasHostUrl" not in await hello(gateway)
        assert gateway.canvas.url is None
    assert not (tmp_path / "canvas").exists()


async def test_the_default_root_is_under_the_gateways_home(make_config, tmp_path, nursery):
    """The service form (the CLI's) keeps the original's layout: ``~/clawd/canvas`` of the gateway's HOME."""
    config = make_config(canvas_host=CanvasHostConfig())
    gateway = await nursery.start(functools.partial(serve_gateway, config, port=0,
                                                    env={"HOME": str(tmp_path / "home")}))
    assert gateway.canvas.url is not None
    await gateway.stop()
    assert (tmp_path / "home" / "clawd" / "canvas" / "index.html").exists()


async def test_an_embedded_gateway_opens_no_canvas_port_unless_asked(make_config, tmp_path):
    home = {"HOME": str(tmp_path / "home")}
    async with open_gateway(make_config(canvas_host=CanvasHostConfig()), port=0, env=home) as gateway:
        assert gateway.canvas.url is None and "canvasHostUrl" not in await hello(gateway)
    async with open_gateway(make_config(canvas_host=CanvasHostConfig()), port=0, env=home, canvas=True,
                            state_dir=tmp_path / "state") as gateway:
        assert gateway.canvas.url is not None
    # Asked for, its default root is in the embedded gateway's state dir, not in HOME.
    assert (tmp_path / "state" / "canvas" / "index.html").exists() and not (tmp_path / "home").exists()


async def test_a_busy_canvas_port_leaves_the_gateway_running(make_config, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="moltbot.canvas")
    with trio.socket.socket() as squatter:
        await squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = make_config(canvas_host=CanvasHostConfig(root=str(tmp_path / "canvas"), port=port))
        async with open_gateway(config, port=0, env={}) as gateway:
            payload = await hello(gateway)
            assert "canvasHostUrl" not in payload and payload["type"] == "hello-ok"
            assert gateway.canvas.url is None
            assert f"cannot listen on 127.0.0.1:{port}" in gateway.canvas.last_error
    assert f"canvas host not started: cannot listen on 127.0.0.1:{port}" in caplog.text


async def test_the_canvas_host_starts_once_its_busy_port_is_free(make_config, tmp_path):
    squatter = trio.socket.socket()
    await squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    config = make_config(canvas_host=CanvasHostConfig(root=str(tmp_path / "canvas"), port=port))
    async with open_gateway(config, port=0, env={}) as gateway:
        assert gateway.canvas.url is None and gateway.canvas.retrying
        started = gateway.canvas.next_start()
        squatter.close()  # e.g. the previous gateway has finished stopping
        with trio.fail_after(5):
            await started.wait()
        assert gateway.canvas.url == f"http://127.0.0.1:{port}" and gateway.canvas.last_error is None
        assert (await hello(gateway))["canvasHostUrl"] == gateway.canvas.url
        assert not gateway.canvas.retrying


async def test_a_canvas_host_change_in_the_config_file_restarts_it_on_the_new_port(tmp_path):
    path = tmp_path / "moltbot.json"
    data = {"gateway": {"auth": {"token": TOKEN}, "reload": {"debounceMs": 50}},
            "canvasHost": {"root": str(tmp_path / "canvas"), "port": 0}}
    path.write_text(json.dumps(data))
    async with open_gateway(load_config(path, env={}), port=0, env={}, watch_config=True) as gateway:
        with trio.fail_after(5):
            await gateway.watch_ready.wait()
        old_url = gateway.canvas.url
        new_port = await free_port()
        data["canvasHost"]["port"] = new_port
        restarted = gateway.next_restart()
        path.write_text(json.dumps(data))
        with trio.fail_after(10):
            await restarted.wait()
        assert gateway.canvas.url == f"http://127.0.0.1:{new_port}"
        assert (await hello(gateway))["canvasHostUrl"] == f"http://127.0.0.1:{new_port}"
        assert (await raw_request(gateway.canvas.url, MOUNT)).status == 200
        assert await refused(old_url)


async def test_an_unrelated_restart_keeps_the_canvas_server_and_its_pages(canvas_config):
    async with open_gateway(canvas_config, port=0, env={}) as gateway:
        url = gateway.canvas.url
        async with open_websocket_url(url.replace("http://", "ws://") + "/__moltbot/ws") as page:
            restarted = gateway.next_restart()
            gateway.request_restart("test", config=attrs.evolve(gateway.config, commands=attrs.evolve(
                gateway.config.commands, restart=True)))
            with trio.fail_after(10):
                await restarted.wait()
            assert gateway.canvas.url == url
            assert not page.closed
            assert (await hello(gateway))["canvasHostUrl"] == url


async def test_disabling_it_in_a_restart_stops_it(canvas_config):
    async with open_gateway(canvas_config, port=0, env={}) as gateway:
        url = gateway.canvas.url
        restarted = gateway.next_restart()
        gateway.request_restart("off", config=attrs.evolve(canvas_config, canvas_host=CanvasHostConfig(enabled=False)))
        with trio.fail_after(10):
            await restarted.wait()
        assert gateway.canvas.url is None and "canvasHostUrl" not in await hello(gateway)
        assert await refused(url)


def FakeTransport(peer: str = "127.0.0.1", request_host: str | None = None, local_host: str | None = None,  # noqa: N802
                  forwarded_proto: str | None = None) -> Peer:
    """The admission value of a connection (what ``canvas_host_url`` reads of it)."""
    return Peer(address=peer, client=peer, local=True, direct=True, host=request_host, local_host=local_host,
                forwarded_proto=forwarded_proto)


async def test_canvas_url_host_and_scheme(canvas_config):
    async with open_gateway(attrs.evolve(canvas_config, gateway=attrs.evolve(
            canvas_config.gateway, trusted_proxies=["10.0.0.9"])), port=0, env={}) as gateway:
        runtime: Runtime = gateway.runtime
        port = gateway.canvas.port
        cases = {
            FakeTransport(request_host="gw.example.ts.net"): f"http://gw.example.ts.net:{port}",
            FakeTransport(request_host="[::1]", local_host="::1"): f"http://[::1]:{port}",
            FakeTransport(local_host="192.168.1.5"): f"http://192.168.1.5:{port}",
            FakeTransport(local_host="fe80::1"): f"http://[fe80::1]:{port}",
            FakeTransport(): f"http://127.0.0.1:{port}",
            FakeTransport(local_host="0.0.0.0"): f"http://127.0.0.1:{port}",
            FakeTransport(request_host="[::1", local_host="10.1.2.3"): f"http://10.1.2.3:{port}",
            FakeTransport(request_host="evil/path?x", local_host="127.0.0.1"): f"http://127.0.0.1:{port}",
            FakeTransport(request_host="a.b", forwarded_proto="https"): f"http://a.b:{port}",  # untrusted peer
            FakeTransport(peer="10.0.0.9", request_host="a.b", forwarded_proto="https"): f"https://a.b:{port}",
        }
        for transport, expected in cases.items():
            assert runtime.canvas_host_url(transport) == expected, transport


async def test_the_gateway_command_serves_a_canvas_from_its_home_on_a_free_port(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    process, _, seen = await start_gateway(env, "--token", "t" * 32)
    try:
        match = re.search(rb"canvas (http://127\.0\.0\.1:(\d+))/__moltbot__/canvas/", seen)
        assert match, seen.decode()
        assert int(match.group(2)) not in (4, DEFAULT_CANVAS_HOST_PORT)
        response = await raw_request(match.group(1).decode(), MOUNT)
        assert response.status == 200 and "Moltbot Canvas" in response.text
        assert (tmp_path / "clawd" / "canvas" / "index.html").exists()
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()

"""DNS rebinding (issue 15 §5): a Host that is not a loopback name or address, the bound address or a
configured name gets 421 on every listener (HTTP, the WebSocket upgrade, the canvas host)."""

from __future__ import annotations

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from moltbot.config.model import CanvasHostConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import open_raw
from tests.hostile.test_origin_browser import upgrade_status

EVIL = "evil.example"


def http_base(gateway) -> str:
    return gateway.url.replace("ws://", "http://", 1)


async def test_http_with_a_foreign_host_is_421(gateway):
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=http_base(gateway)) as http:
            answers = [await http.get("/", headers={"Host": host})
                       for host in (EVIL, f"{EVIL}:{gateway.port}", "127.0.0.1.evil.example", "[fe80::1]")]
    assert [a.status_code for a in answers] == [421] * 4
    assert "gateway.allowedHosts" in answers[0].text


async def test_websocket_upgrade_with_a_foreign_host_is_421(gateway):
    with trio.fail_after(10):
        status, body = await upgrade_status(gateway.port, {"Host": f"{EVIL}:{gateway.port}"})
    assert status == 421 and b"host not allowed" in body


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST."])
async def test_loopback_names_are_served(gateway, host):
    with trio.fail_after(10):
        status, _ = await upgrade_status(gateway.port, {"Host": f"{host}:{gateway.port}"})
        async with httpx.AsyncClient(base_url=http_base(gateway)) as http:
            answer = await http.get("/nope", headers={"Host": f"{host}:{gateway.port}"})
    assert status == 101 and answer.status_code == 404


async def test_configured_host_names_are_served(make_config):
    config = make_config(allowed_hosts=["gw.example", ".tail.example.com"])
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, \
                httpx.AsyncClient(base_url=http_base(gateway)) as http:
            served = [(await http.get("/nope", headers={"Host": host})).status_code
                      for host in ("gw.example", "box.tail.example.com", "GW.EXAMPLE:443")]
            refused = [(await http.get("/nope", headers={"Host": host})).status_code
                       for host in ("tail.example.com", "gw.example.evil", "xgw.example")]
    assert served == [404] * 3 and refused == [421] * 3


async def test_the_canvas_host_refuses_foreign_hosts_and_origins(make_config, tmp_path):
    root = tmp_path / "canvas"
    root.mkdir()
    (root / "index.html").write_text("<html><body>hi</body></html>")
    config = make_config(canvas_host=CanvasHostConfig(root=str(root), port=0))
    with trio.fail_after(20):
        async with open_gateway(config, port=0, env={}) as gateway:
            canvas = gateway.canvas.url
            async with httpx.AsyncClient(base_url=canvas) as http:
                rebound = await http.get("/__moltbot__/canvas/", headers={"Host": EVIL})
                served = await http.get("/__moltbot__/canvas/")
            ws_url = canvas.replace("http://", "ws://", 1) + "/__moltbot/ws"
            with pytest.raises(ConnectionRejected) as foreign:
                async with open_websocket_url(ws_url, extra_headers=[("Origin", "https://evil.example")]):
                    pass
            async with open_raw(gateway.url, handshake=True) as ws:  # the gateway itself is untouched
                assert (await ws.call("health"))["ok"]
    assert rebound.status_code == 421 and served.status_code == 200 and "hi" in served.text
    assert foreign.value.status_code == 403

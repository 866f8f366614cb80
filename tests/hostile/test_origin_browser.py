"""Browser origins (issue 15 §4): a foreign page's WebSocket is refused before any frame; the gateway's own
Control UI origin, allowed origins and clients without ``Origin`` are served; CORS only for allowed origins.

Over real loopback sockets: trio-websocket with extra headers, httpx, and a raw upgrade request where a
test needs a Host of its own.
"""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from hypothesis import HealthCheck, assume, given, settings
from trio_websocket import ConnectionRejected, open_websocket_url

from moltbot.config.model import (
    AuthConfig,
    ControlUiConfig,
    EndpointToggle,
    HooksConfig,
    HttpConfig,
    HttpEndpoints,
)
from moltbot.gateway.app import open_gateway
from moltbot.protocol._device import DeviceKeyPair, sign_connect
from tests.conftest import TOKEN, connect_frame, open_raw
from tests.strategies import foreign_hosts, foreign_origins

ALLOWED = "https://app.example"


def http_base(gateway) -> str:
    return gateway.url.replace("ws://", "http://", 1)


async def upgrade_status(port: int, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send one WebSocket upgrade with exactly ``headers`` (plus the upgrade's own); the status and body."""
    lines = ["GET / HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all("\r\n".join(lines).encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length and (chunk := await stream.receive_some(65536)):
                body += chunk
        return status, body


@pytest.mark.parametrize("page", ["https://evil.example", "null", "http://127.0.0.1:1"])
async def test_websocket_from_a_foreign_origin_is_refused_before_any_frame(gateway, page):
    with trio.fail_after(10), pytest.raises(ConnectionRejected) as refused:
        async with open_websocket_url(gateway.url, extra_headers=[("Origin", page)]) as ws:
            await ws.get_message()  # the challenge would be the first frame
    assert refused.value.status_code == 403
    assert b"origin not allowed" in (refused.value.body or b"")


async def connect_with_device(ws, **params) -> dict:
    """Send a ``connect`` signed by a new device (as the Control UI does); return the response."""
    body = json.loads(connect_frame(**params))["params"]
    body["device"] = sign_connect(DeviceKeyPair.generate(), body, nonce=ws.challenge["payload"]["nonce"])
    await ws.send({"type": "req", "id": "c1", "method": "connect", "params": body})
    return await ws.response("c1")


async def test_websocket_from_the_gateways_own_origin_is_served_and_paired_silently(gateway):
    own = http_base(gateway)
    with trio.fail_after(10):
        async with open_raw(gateway.url, extra_headers=[("Origin", own)]) as ws:
            assert (await connect_with_device(ws, scopes=["operator.read"]))["ok"]
            assert (await ws.call("health"))["ok"]


async def test_websocket_from_an_allowed_origin_is_served(make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=False, allowed_origins=[ALLOWED + "/"]))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, \
                open_raw(gateway.url, handshake=True, extra_headers=[("Origin", ALLOWED)]) as ws:
            assert (await ws.call("health"))["error"]["message"] == "missing scope: operator.read"


async def test_silent_local_pairing_never_applies_to_a_foreign_browser_origin(make_config):
    """A device presented from an allowed (but not the own) origin on loopback must be approved by hand."""
    config = make_config(control_ui=ControlUiConfig(enabled=False, allowed_origins=[ALLOWED]))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            async with open_raw(gateway.url, extra_headers=[("Origin", ALLOWED)]) as ws:
                answer = await connect_with_device(ws, scopes=["operator.read"])
            assert not answer["ok"] and answer["error"]["message"] == "pairing required"
            assert gateway.runtime.nodes.devices.devices() == []
            async with open_raw(gateway.url) as ws:  # a device without Origin: paired silently
                assert (await connect_with_device(ws, scopes=["operator.read"]))["ok"]


async def test_cors_preflight_is_answered_only_for_an_allowed_origin(make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=False, allowed_origins=[ALLOWED]),
                         http=HttpConfig(endpoints=HttpEndpoints(chat_completions=EndpointToggle(enabled=True))))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, \
                httpx.AsyncClient(base_url=http_base(gateway)) as http:
            foreign = await http.options("/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight})
            allowed = await http.options("/v1/chat/completions", headers={"Origin": ALLOWED, **preflight})
            answer = await http.post("/v1/chat/completions", headers={"Origin": ALLOWED, "Authorization": "Bearer x"},
                                     json={})
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert answer.headers["access-control-allow-origin"] == ALLOWED


async def test_a_foreign_page_cannot_post_to_http_apis(make_config):
    """A form POST needs no preflight: it is refused on its Origin before any token check."""
    config = make_config(control_ui=ControlUiConfig(enabled=False))
    config = type(config)(gateway=config.gateway, hooks=HooksConfig(enabled=True, token="hook-secret-1"),
                          canvas_host=config.canvas_host, path=config.path, state_dir=config.state_dir)
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway, \
                httpx.AsyncClient(base_url=http_base(gateway)) as http:
            answer = await http.post("/hooks/wake", headers={"Origin": "https://evil.example",
                                                             "Authorization": "Bearer hook-secret-1"},
                                     json={"text": "hi"})
    assert answer.status_code == 403 and gateway.system_events == []


@pytest.fixture
async def shared_gateway(make_config):
    config = make_config(auth=AuthConfig(token=TOKEN))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={}) as gateway:
            yield gateway


async def test_foreign_origins_and_hosts_are_always_refused(shared_gateway):
    """Hypothesis: any foreign Origin gets 403 on the upgrade; any foreign Host gets 421 (upgrade and
    HTTP). Examples run in a worker thread; each probe's I/O runs back in the test's Trio loop."""
    port = shared_gateway.port
    own = f"http://127.0.0.1:{port}"

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(page=foreign_origins, host=foreign_hosts)
    def check(page: str, host: str) -> None:
        assume(page.rstrip("/") not in (own, f"http://localhost:{port}"))
        assume(all(32 < ord(c) < 127 for c in page))
        status, _ = trio.from_thread.run(upgrade_status, port, {"Host": f"127.0.0.1:{port}", "Origin": page})
        assert status == 403, page
        status, _ = trio.from_thread.run(upgrade_status, port, {"Host": host})
        assert status == 421, host

    with trio.fail_after(240):
        await trio.to_thread.run_sync(check)
    async with open_raw(shared_gateway.url, handshake=True) as ws:  # and the gateway still serves
        assert (await ws.call("health"))["ok"]

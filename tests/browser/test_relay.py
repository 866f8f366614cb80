"""The extension relay with a fake extension speaking its wire contract (docs/browser.md): the `chrome`
profile lists and snapshots the extension's tab through the control service; auth and one-at-a-time."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from ..conftest import TOKEN
from .helpers import api, browser_gateway

FAKE_TREE = [
    {"nodeId": "1", "role": {"value": "RootWebArea"}, "name": {"value": "Fake tab"}, "childIds": ["2"]},
    {
        "nodeId": "2",
        "parentId": "1",
        "role": {"value": "button"},
        "name": {"value": "Lent button"},
        "childIds": [],
        "backendDOMNodeId": 7,
    },
]


def relay_ws(gw, path: str = "/extension") -> str:
    return gw.runtime.browser.relay.url.replace("http://", "ws://") + path


async def run_fake_extension(ws, commands: list[str]) -> None:
    """Attach one tab, then answer every forwarded command (the AX tree for getFullAXTree, else {})."""
    assert json.loads(await ws.get_message()) == {"method": "auth.ok"}
    await ws.send_message(
        json.dumps(
            {
                "method": "forwardCDPEvent",
                "params": {
                    "method": "Target.attachedToTarget",
                    "params": {
                        "sessionId": "s1",
                        "targetInfo": {
                            "targetId": "T1",
                            "type": "page",
                            "title": "Fake tab",
                            "url": "https://example.com/",
                        },
                    },
                },
            }
        )
    )
    while True:
        message = json.loads(await ws.get_message())
        if message.get("method") != "forwardCDPCommand":
            continue
        inner = message["params"]
        commands.append(f"{inner['method']}@{inner.get('sessionId')}")
        result = {"nodes": FAKE_TREE} if inner["method"] == "Accessibility.getFullAXTree" else {}
        await ws.send_message(json.dumps({"id": message["id"], "result": result}))


async def test_the_chrome_profile_drives_the_extension_tab(make_config, tmp_path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw, api(gw) as http:
            async with (
                trio.open_nursery() as nursery,
                open_websocket_url(relay_ws(gw), extra_headers=[("Authorization", f"Bearer {TOKEN}")]) as ws,
            ):
                commands: list[str] = []
                nursery.start_soon(run_fake_extension, ws, commands)
                await gw.runtime.browser.relay.connected.wait()
                async with httpx.AsyncClient() as plain:
                    status = (await plain.get(gw.runtime.browser.relay.url + "/extension/status")).json()
                assert status == {"connected": True}
                relay = gw.runtime.browser.relay
                while relay.tab_count == 0:  # the attach event may still be on its way
                    await relay.tabs_changed.wait()
                assert (await http.post("/start", json={"profile": "chrome"})).is_success
                tabs = (await http.get("/tabs", params={"profile": "chrome"})).json()
                assert [t["targetId"] for t in tabs["tabs"]] == ["T1"]
                snap = (await http.get("/snapshot", params={"profile": "chrome"})).json()
                assert 'button "Lent button" [ref=e1]' in snap["snapshot"], snap
                assert "Accessibility.getFullAXTree@s1" in commands and "Page.enable@s1" in commands
                nursery.cancel_scope.cancel()


async def test_the_extension_authenticates_by_first_message(make_config, tmp_path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw:
            async with open_websocket_url(relay_ws(gw)) as ws:
                await ws.send_message(json.dumps({"method": "auth", "params": {"token": TOKEN}}))
                assert json.loads(await ws.get_message()) == {"method": "auth.ok"}
                async with open_websocket_url(relay_ws(gw)) as second:  # one extension at a time
                    await second.send_message(json.dumps({"method": "auth", "params": {"token": TOKEN}}))
                    with pytest.raises(ConnectionClosed) as closed:
                        await second.get_message()
                    assert closed.value.reason.code == 4409


@pytest.mark.parametrize("path", ["/extension", "/cdp"])
async def test_relay_sockets_without_the_token_are_closed(make_config, tmp_path, path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw:
            async with open_websocket_url(
                relay_ws(gw, path), extra_headers=[("Authorization", "Bearer nope")]
            ) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 4401


async def test_the_devtools_endpoints_need_the_relay_token(make_config, tmp_path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw, httpx.AsyncClient() as plain:
            relay = gw.runtime.browser.relay
            assert (await plain.get(relay.url + "/json/list")).status_code == 401
            own = await plain.get(
                relay.url + "/json/version", headers={"Authorization": f"Bearer {relay.local_token}"}
            )
            assert own.status_code == 200 and "webSocketDebuggerUrl" not in own.json()  # no extension yet
            rebound = await plain.get(relay.url + "/extension/status", headers={"Host": "evil.example"})
            assert rebound.status_code == 403

"""The control service in the Runtime: a hot reload of browser.* restarts only it; off turns it off."""

from __future__ import annotations

import json

import attrs
import httpx
import trio

from moltbot.config.model import BrowserConfig

from ..conftest import TOKEN, open_raw
from .helpers import browser_gateway


async def test_a_browser_reload_restarts_only_the_service(make_config, tmp_path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw:
            runtime, service = gw.runtime, gw.runtime.browser
            old_control = service.control
            started = service.next_start()
            new = attrs.evolve(runtime.config, browser=attrs.evolve(runtime.config.browser, color="#00FF00"))
            runtime.apply_config(new, ("restart-browser-control",))
            await started.wait()
            assert gw.runtime is runtime and service.control is not old_control
            async with httpx.AsyncClient(
                base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as http:
                assert (await http.get("/")).json()["color"] == "#00FF00"
            runtime.apply_config(
                attrs.evolve(new, browser=BrowserConfig(enabled=False)), ("restart-browser-control",)
            )
            while service.url is not None:
                await service.changed.wait()
            assert service.control is None and service.relay is None


async def test_browser_request_over_the_websocket_reaches_the_local_service(make_config, tmp_path):
    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw:
            async with open_raw(gw.url, handshake=True) as client:
                answer = await client.call("browser.request", {"method": "GET", "path": "/profiles"})
                assert answer["ok"], answer
                names = {p["name"] for p in answer["payload"]["profiles"]}
                assert names == {"moltbot", "chrome"}
                missing = await client.call("browser.request", {"method": "GET", "path": "/nowhere"}, "r2")
                assert (
                    missing["error"]["code"] == "INVALID_REQUEST"
                    and "not found" in missing["error"]["message"]
                )
                unknown = await client.call(
                    "browser.request", {"method": "GET", "path": "/", "query": {"profile": "x"}}, "r3"
                )
                assert "unknown browser profile" in unknown["error"]["message"]
            async with open_raw(gw.url, handshake=True, scopes=["operator.read"]) as reader:
                refused = await reader.call("browser.request", {"method": "GET", "path": "/"})
                assert refused["ok"] is False and "operator.write" in refused["error"]["message"]


async def test_browser_request_when_the_service_is_off(gateway):
    async with open_raw(gateway.url, handshake=True) as client:
        answer = await client.call("browser.request", {"method": "GET", "path": "/"})
        assert answer["error"]["code"] == "UNAVAILABLE" and "disabled" in answer["error"]["message"]


async def test_the_browser_tool_maps_to_the_service_and_is_off_in_groups(make_config, tmp_path):
    from moltbot.agents.runtime import Run

    with trio.fail_after(30):
        async with browser_gateway(make_config, tmp_path, canvas=False) as gw:
            tools = gw.runtime.tools
            result, is_error = await tools.invoke("browser", {"action": "profiles"})
            assert not is_error and {p["name"] for p in result["profiles"]} == {"moltbot", "chrome"}
            result, is_error = await tools.invoke("browser", {"action": "focus"})
            assert is_error and result == {"error": "targetId is required"}
            group = Run(
                run_id="r", session_key="agent:main:telegram:group:-100", agent_id="main", message="hi"
            )
            result, is_error = await tools.invoke("browser", {"action": "status"}, run=group)
            assert is_error and "off in group chats" in result["error"]


async def test_a_busy_control_port_is_reported_and_the_gateway_runs_on(make_config, tmp_path):
    import socket

    from .helpers import browser_config

    with socket.socket() as squatter, trio.fail_after(30):
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        config = attrs.evolve(make_config(), browser=browser_config(control_port=busy))
        from moltbot.gateway.app import open_gateway

        async with open_gateway(config, port=0, env={}) as gw:
            service = gw.runtime.browser
            while service.last_error is None:
                await service.changed.wait()
            assert "cannot listen" in service.last_error and service.url is None
            async with open_raw(gw.url, handshake=True) as client:
                answer = await client.call("browser.request", {"method": "GET", "path": "/"})
                assert "cannot listen" in answer["error"]["message"]


async def test_browser_request_is_routed_to_the_configured_browser_node(make_config):
    from moltbot.client import open_gateway_client
    from moltbot.config.model import BrowserNodesConfig, NodesConfig
    from moltbot.gateway.app import open_gateway
    from moltbot.protocol._device import DeviceKeyPair
    from tests.nodes.helpers import next_event

    key = DeviceKeyPair.generate()
    nodes = NodesConfig(allow_commands=["browser.proxy"], browser=BrowserNodesConfig(node=key.device_id))
    config = make_config(nodes=nodes)
    with trio.fail_after(20):
        async with (
            open_gateway(config, port=0, env={}) as gw,
            open_gateway_client(
                gw.url,
                token=TOKEN,
                device=key,
                role="node",
                client_id="node-host",
                mode="node",
                commands=["browser.proxy"],
            ) as node,
            open_raw(gw.url, handshake=True) as operator,
        ):
            requests = node.subscribe()
            async with trio.open_nursery() as nursery:
                answers = []

                async def ask():
                    answers.append(await operator.call("browser.request", {"method": "GET", "path": "/tabs"}))

                nursery.start_soon(ask)
                request = (await next_event(requests, "node.invoke.request")).payload
                assert request["command"] == "browser.proxy"
                assert json.loads(request["paramsJSON"])["path"] == "/tabs"
                await node.call(
                    "node.invoke.result",
                    {
                        "id": request["id"],
                        "nodeId": key.device_id,
                        "ok": True,
                        "payloadJSON": json.dumps(
                            {"result": {"running": True, "tabs": [{"targetId": "N1"}]}}
                        ),
                    },
                )
            assert answers[0]["ok"] and answers[0]["payload"]["tabs"] == [{"targetId": "N1"}]
            gone = make_config(nodes=NodesConfig(browser=BrowserNodesConfig(node="no-such-node")))
            gw.runtime.apply_config(gone, ())
            missing = await operator.call("browser.request", {"method": "GET", "path": "/tabs"}, "r2")
            assert (
                missing["error"]["code"] == "UNAVAILABLE"
                and "is not connected" in missing["error"]["message"]
            )


async def test_a_browser_edit_in_the_config_file_is_a_hot_reload_of_the_service_only(tmp_path):
    from moltbot.client import open_gateway_client
    from moltbot.config.load import load_config
    from moltbot.gateway.app import open_gateway

    from ..conftest import reload_after
    from .helpers import free_port_block

    start, end = free_port_block()
    data = {
        "gateway": {"auth": {"token": TOKEN}, "reload": {"debounceMs": 50}},
        "canvasHost": {"enabled": False},
        "browser": {"controlPort": 0, "cdpPortRange": [start, end]},
    }
    path = tmp_path / "moltbot.json"
    path.write_text(json.dumps(data))
    with trio.fail_after(30):
        async with open_gateway(load_config(path, env={}), port=0, env={}, watch_config=True) as gw:
            await gw.watch_ready.wait()
            service = gw.runtime.browser
            if service.url is None:
                await service.next_start().wait()
            first = service.control
            async with open_gateway_client(gw.url, token=TOKEN) as client:
                started = service.next_start()
                data["browser"]["color"] = "#123456"
                assert await reload_after(gw, lambda: path.write_text(json.dumps(data))) == "hot"
                await started.wait()
                assert service.control is not first and (await client.call("health")) is not None

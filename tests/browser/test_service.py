"""The control service in the Runtime: a hot reload of browser.* restarts only it; off turns it off."""

from __future__ import annotations

import attrs
import httpx
import trio

from moltbot.config.model import BrowserConfig

from ..conftest import TOKEN
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

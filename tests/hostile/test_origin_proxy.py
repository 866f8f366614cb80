"""Host and Origin behind a trusted proxy (issue 15 §4–§5, review of the guard): being a trusted peer never
skips Rule 1 (a rebound page's browser reaches the proxy's address directly), and the guard's Origin verdict
is the one device admission uses. Over real loopback sockets, 127.0.0.1 playing the proxy."""

from __future__ import annotations

import httpx
import trio

from moltbot.config.model import AuthConfig, ControlUiConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN, open_raw
from tests.hostile.test_origin_browser import upgrade_status

PUBLIC = "gw.example"
CONTROL_UI = {"id": "moltbot-control-ui", "version": "1", "platform": "web", "mode": "webchat"}


def proxied_config(make_config, **control_ui):
    return make_config(trusted_proxies=["127.0.0.1"], allowed_hosts=[PUBLIC],
                       control_ui=ControlUiConfig(enabled=False, **control_ui), auth=AuthConfig(token=TOKEN))


async def test_a_rebound_page_reaching_a_trusted_proxy_address_is_421(make_config):
    """``trustedProxies: ["127.0.0.1"]``; a page on evil.example rebinds its name to 127.0.0.1: its browser
    connects straight to the gateway with ``Host: evil.example:P`` (and may add any header it likes)."""
    with trio.fail_after(20):
        async with open_gateway(proxied_config(make_config), port=0, env={}) as gateway:
            port = gateway.port
            rebound, _ = await upgrade_status(port, {"Host": f"evil.example:{port}"})
            forged, _ = await upgrade_status(port, {"Host": f"evil.example:{port}", "X-Forwarded-Host": PUBLIC})
            forwarded_evil, _ = await upgrade_status(port, {"Host": f"127.0.0.1:{port}",
                                                            "X-Forwarded-Host": f"{PUBLIC}, evil.example"})
            served, _ = await upgrade_status(port, {"Host": f"127.0.0.1:{port}", "X-Forwarded-Host": PUBLIC,
                                                    "X-Forwarded-For": "203.0.113.7"})
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                http_rebound = await http.get("/nope", headers={"Host": "evil.example"})
                http_served = await http.get("/nope", headers={"Host": PUBLIC, "X-Forwarded-Host": PUBLIC})
    assert (rebound, forged, forwarded_evil) == (421, 421, 421)
    assert served == 101
    assert http_rebound.status_code == 421 and http_served.status_code == 404


async def test_the_control_ui_behind_a_trusted_proxy_is_own_for_admission_too(make_config):
    """The guard judges ``Origin: https://gw.example`` with ``X-Forwarded-Host: gw.example`` the gateway's
    own; admission must see the same verdict (one computation, handed on), so the device-less Control UI
    under ``allowInsecureAuth`` keeps its scopes as it does locally."""
    headers = [("Origin", f"https://{PUBLIC}"), ("X-Forwarded-Host", PUBLIC), ("X-Forwarded-For", "203.0.113.7"),
               ("X-Forwarded-Proto", "https")]
    with trio.fail_after(20):
        async with open_gateway(proxied_config(make_config, allow_insecure_auth=True), port=0, env={}) as gateway:
            async with open_raw(gateway.url, handshake=True, extra_headers=headers, client=CONTROL_UI,
                                scopes=["operator.admin"]) as ws:
                own = await ws.call("config.get", {})
            foreign_host = [("Origin", "https://other.example"), ("X-Forwarded-Host", PUBLIC)]
            status, _ = await upgrade_status(gateway.port, {"Host": f"127.0.0.1:{gateway.port}",
                                                            **dict(foreign_host)})
    assert own["ok"], own
    assert status == 403

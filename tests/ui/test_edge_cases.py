"""The Control UI when things are not simple: a run to stop, a browser without Ed25519, a base path."""

from __future__ import annotations

import attrs
import pytest
import trio

from moltbot.config.model import (
    AgentDefaults,
    AgentsConfig,
    ControlUiConfig,
    ModelProviderConfig,
    ModelsConfig,
)
from moltbot.gateway.app import open_gateway
from tests.fakes.openai import open_fake_openai, text_reply

from .conftest import dashboard_url, in_browser

NO_ED25519 = """
  const generate = crypto.subtle.generateKey.bind(crypto.subtle);
  crypto.subtle.generateKey = (algorithm, ...rest) =>
    (algorithm && (algorithm === 'Ed25519' || algorithm.name === 'Ed25519'))
      ? Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'))
      : generate(algorithm, ...rest);
"""


async def test_stop_aborts_a_streaming_reply(browser, make_config):
    async with open_fake_openai(text_reply("The first words ", then="hang")) as fake:
        config = attrs.evolve(
            make_config(control_ui=ControlUiConfig(enabled=True)),
            agents=AgentsConfig(defaults=AgentDefaults(model="local/fake-model")),
            models=ModelsConfig(providers={"local": ModelProviderConfig(base_url=fake.base_url, api_key="sk-x",
                                                                        api="openai-completions")}))
        async with open_gateway(config, port=0, env={}) as gateway:
            def run():
                browser.driver.get(dashboard_url(gateway, "/chat"))
                browser.wait_text("conn-text", "Connected")
                browser.by_id("chat-input").send_keys("tell me a long story\n")
                browser.wait(lambda _: "The first words" in browser.text_of("chat-log"), 10, "no partial reply")
                stop = browser.by_id("chat-abort")
                assert stop.is_enabled()
                stop.click()
                browser.wait(lambda _: browser.css("#chat-log .msg.assistant[data-state='aborted']"), 10, "not aborted")
                reply = browser.css("#chat-log .msg.assistant")[-1]
                return reply.text, browser.text_of("chat-status"), browser.by_id("chat-abort").is_enabled()

            text, status, stop_enabled = await in_browser(run)
    assert "The first words" in text and text.endswith("(stopped)")
    assert status == "Stopped." and not stop_enabled


async def test_without_webcrypto_ed25519_the_page_says_so_and_shows_the_gateways_refusal(browser, ui_gateway):
    script = browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_ED25519})
    try:
        def run():
            browser.driver.get(dashboard_url(ui_gateway))
            warning = browser.wait_text("crypto-warning", "Ed25519")
            error = browser.wait_text("login-error", "secure context")
            return warning, error

        warning, error = await in_browser(run)
    finally:
        browser.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    assert "Device identity unavailable" in warning and "allowInsecureAuth" in warning
    assert error == "control ui requires HTTPS or localhost (secure context)"


async def test_allow_insecure_auth_lets_a_page_without_a_device_connect(browser, make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=True, allow_insecure_auth=True))
    script = browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_ED25519})
    try:
        async with open_gateway(config, port=0, env={}) as gateway:
            def run():
                browser.driver.get(dashboard_url(gateway))
                browser.wait_text("conn-text", "Connected")
                return browser.wait_text("ov-health", "OK")

            assert await in_browser(run) == "OK"
    finally:
        browser.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


async def test_page_under_a_base_path_connects_and_routes_beneath_it(browser, make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=True, base_path="/console/"))
    async with open_gateway(config, port=0, env={}) as gateway:
        def run():
            browser.driver.get(dashboard_url(gateway, "/console"))  # 302 to /console/, the fragment kept
            browser.wait_text("ov-health", "OK")
            browser.css("nav a[data-view='cron']")[0].click()
            browser.wait(lambda _: browser.by_id("cron-title").is_displayed(), 5)
            url = browser.driver.current_url
            browser.driver.refresh()  # the SPA fallback serves /console/cron
            browser.wait(lambda _: browser.by_id("cron-title").is_displayed(), 10)
            same_origin = browser.script("return performance.getEntriesByType('resource')"
                                         ".every(r => r.name.startsWith(location.origin + '/console/'))")
            return url, same_origin

        with trio.fail_after(40):
            url, same_origin = await in_browser(run)
    assert url == gateway.urls[0] + "/console/cron"
    assert same_origin


@pytest.fixture
async def remote_ui_gateway(make_config):
    """The Control UI gateway with ``moltbot.test`` among its host names (``gateway.allowedHosts``): any
    other name is refused 421 (DNS-rebinding defence)."""
    config = make_config(control_ui=ControlUiConfig(enabled=True), allowed_hosts=["moltbot.test"])
    with trio.fail_after(120):
        async with open_gateway(config, port=0, env={}) as gateway:
            yield gateway


async def test_a_remote_browser_waits_for_pairing_approval_then_connects_by_itself(remote_ui_gateway):
    """A page not on localhost is not paired silently: it says it waits, and gets in once approved."""
    from moltbot.client import open_gateway_client
    from tests.conftest import TOKEN

    from .browser import Browser, browser_missing

    if (reason := browser_missing()) is not None:
        pytest.skip(f"browser tests need headless Chromium: {reason}")
    ui_gateway = remote_ui_gateway
    port = ui_gateway.port
    origin = f"http://moltbot.test:{port}"
    # moltbot.test resolves to loopback inside this browser only; the Host header then is not local, and the
    # origin is declared secure so WebCrypto stays available, as it would be over https.
    remote = await in_browser(lambda: Browser(extra_flags=(
        "--host-resolver-rules=MAP moltbot.test 127.0.0.1",
        f"--unsafely-treat-insecure-origin-as-secure={origin}")))
    try:
        status = await in_browser(lambda: (remote.driver.get(f"{origin}/#token={TOKEN}"),
                                           remote.wait_text("conn-text", "Waiting for approval"))[1])
        async with open_gateway_client(ui_gateway.url, token=TOKEN) as operator:
            (pending,) = (await operator.call("device.pair.list", {}))["pending"]
            assert pending["requestId"] in status and pending["clientId"] == "moltbot-control-ui"
            await operator.call("device.pair.approve", {"requestId": pending["requestId"]})
        await in_browser(remote.wait_text, "conn-text", "Connected", 15)
        assert await in_browser(remote.wait_text, "ov-health", "OK") == "OK"
    finally:
        await in_browser(remote.close)

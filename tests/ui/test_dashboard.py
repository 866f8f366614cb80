"""The Control UI in a real headless Chromium against a real gateway on a loopback port."""

from __future__ import annotations

import trio

from moltbot.agents.providers.echo import PREFIX
from moltbot.client import open_gateway_client
from tests.conftest import TOKEN

from .conftest import dashboard_url, in_browser


async def test_dashboard_url_logs_in_and_renders_live_health(browser, ui_gateway):
    def run():
        browser.driver.get(dashboard_url(ui_gateway))
        browser.wait_text("conn-text", "Connected")
        browser.wait_text("ov-health", "OK")
        origins = browser.script("return [...new Set(performance.getEntriesByType('resource')"
                                 ".map(r => new URL(r.name).origin))]")
        return (browser.driver.current_url, browser.script("return localStorage.getItem('moltbot.controlUi.token')"),
                browser.text_of("ov-version"), browser.text_of("presence"), browser.console_errors(), origins)

    url, stored, version, presence, errors, origins = await in_browser(run)
    assert origins == [ui_gateway.urls[0]]  # every request the page made went to the gateway
    assert url == ui_gateway.urls[0] + "/"  # the token left the address bar
    assert stored == TOKEN
    assert version == ui_gateway.version
    assert "Control UI" in presence and "gateway" in presence
    assert errors == []


async def test_page_is_paired_silently_as_a_local_device(browser, ui_gateway):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway)), browser.wait_text("conn-text", "Connected")))
    async with open_gateway_client(ui_gateway.url, token=TOKEN) as client:
        devices = await client.call("device.pair.list", {})
    (device,) = devices["paired"]
    assert device["clientId"] == "moltbot-control-ui" and device["clientMode"] == "ui"
    assert devices["pending"] == []


async def test_presence_list_updates_when_a_second_client_connects_and_leaves(browser, ui_gateway):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway)), browser.wait_text("ov-health", "OK")))
    async with open_gateway_client(ui_gateway.url, token=TOKEN, display_name="second-client"):
        await in_browser(browser.wait_text, "presence", "second-client")
        assert await in_browser(browser.text_of, "presence-live") != ""
    await in_browser(browser.wait, lambda _: "second-client" not in browser.text_of("presence"), 10,
                     "the second client never left the presence list")


async def test_login_form_shows_the_gateway_error_for_a_wrong_token_then_connects(browser, ui_gateway):
    def run():
        browser.driver.get(dashboard_url(ui_gateway, token=None))
        browser.wait(lambda _: browser.by_id("login").is_displayed(), 10, "no login form")
        field = browser.by_id("login-token")
        field.send_keys("wrong-token")
        field.submit()
        error = browser.wait_text("login-error", "unauthorized")
        browser.by_id("login-token").send_keys(TOKEN + "\n")
        browser.wait_text("conn-text", "Connected")
        return error, browser.by_id("login").is_displayed()

    error, login_visible = await in_browser(run)
    assert "token mismatch" in error
    assert not login_visible


async def test_chat_reply_streams_in(browser, ui_gateway):
    message = "hello from the browser"

    def run():
        browser.driver.get(dashboard_url(ui_gateway, "/chat"))
        browser.wait_text("conn-text", "Connected")
        # Record every text the reply bubble shows, to see it grow before the final state.
        browser.script("""
            window.__seen = [];
            new MutationObserver(() => {
              const reply = document.querySelector('#chat-log .msg.assistant:last-child .text');
              if (reply && reply.textContent && window.__seen.at(-1) !== reply.textContent) window.__seen.push(reply.textContent);
            }).observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true});
        """)
        browser.by_id("chat-input").send_keys(message + "\n")
        browser.wait(lambda _: browser.css("#chat-log .msg.assistant[data-state='final']"), 15, "no final reply")
        reply = browser.css("#chat-log .msg.assistant")[-1]
        return reply.text, reply.get_attribute("aria-busy"), browser.script("return window.__seen")

    text, busy, seen = await in_browser(run)
    assert text.endswith(PREFIX + message)
    assert busy == "false"
    assert seen[-1] == PREFIX + message and len(seen) >= 2, seen  # at least one partial text before the final
    assert all(PREFIX.startswith(part) or part.startswith(PREFIX) or (PREFIX + message).startswith(part) for part in seen)

    def history():  # reloading the view shows the transcript from chat.history
        browser.driver.refresh()
        browser.wait(lambda _: len(browser.css("#chat-log .msg")) == 2, 10, "history not shown")
        return [m.get_attribute("class") for m in browser.css("#chat-log .msg")]

    assert await in_browser(history) == ["msg user", "msg assistant"]


async def test_keyboard_navigation_moves_between_views(browser, ui_gateway):
    from selenium.webdriver.common.keys import Keys

    def run():
        browser.driver.get(dashboard_url(ui_gateway))
        browser.wait_text("conn-text", "Connected")
        link = browser.css("nav a[data-view='logs']")[0]
        link.send_keys(Keys.ENTER)
        browser.wait(lambda _: browser.by_id("logs-title").is_displayed(), 5, "logs view not shown")
        focused = browser.script("return document.activeElement.id")
        return focused, browser.driver.current_url, link.get_attribute("aria-current")

    focused, url, current = await in_browser(run)
    assert (focused, url, current) == ("logs-title", ui_gateway.urls[0] + "/logs", "page")


async def test_a_method_the_gateway_lacks_shows_the_feature_as_absent(browser, ui_gateway, monkeypatch):
    import moltbot.gateway.hello as hello_module  # hello-ok's method list

    monkeypatch.setattr(hello_module, "METHODS", {k: v for k, v in hello_module.METHODS.items() if k != "logs.tail"})

    def run():
        browser.driver.get(dashboard_url(ui_gateway, "/logs"))
        browser.wait_text("conn-text", "Connected")
        return browser.wait(lambda _: [p.text for p in browser.css("section[data-view='logs'] .absent")], 5)

    (note,) = await in_browser(run)
    assert "logs.tail" in note and "absent" in note


async def test_narrow_window_has_no_horizontal_page_scroll(browser, ui_gateway):
    def run():
        browser.driver.set_window_size(380, 800)
        try:
            browser.driver.get(dashboard_url(ui_gateway))
            browser.wait_text("ov-health", "OK")
            return browser.script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        finally:
            browser.driver.set_window_size(1280, 900)

    assert await in_browser(run) <= 0


async def test_reconnects_after_the_gateway_restarts(browser, ui_gateway, ui_config):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway)), browser.wait_text("conn-text", "Connected")))
    restarted = ui_gateway.next_restart()
    ui_gateway.request_restart("test restart", ui_config)
    with trio.fail_after(10):
        await restarted.wait()
    await in_browser(browser.wait, lambda _: "Reconnect" in browser.text_of("conn-text")
                     or "Disconnected" in browser.text_of("conn-text"), 10, "the page never noticed the restart")
    await in_browser(browser.wait, lambda _: "Connected" == browser.text_of("conn-text")
                     and browser.by_id("conn").get_attribute("data-state") == "connected", 15, "never reconnected")
    with trio.fail_after(5):
        assert await in_browser(browser.text_of, "ov-health") == "OK"

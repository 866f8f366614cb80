"""The Logs, Cron and Pairing panels in headless Chromium: live updates come from the gateway's events."""

from __future__ import annotations

import attrs
import pytest
import trio

from moltbot.client import open_gateway_client
from moltbot.config.model import LoggingConfig
from tests.conftest import TOKEN

from .conftest import dashboard_url, in_browser

JOB = {"name": "nightly digest", "schedule": {"kind": "every", "everyMs": 3_600_000}, "sessionTarget": "main",
       "payload": {"kind": "systemEvent", "text": "digest time"}}


@pytest.fixture
def ui_config(make_config, tmp_path):
    from moltbot.config.model import ControlUiConfig

    log = tmp_path / "gateway.log"
    log.write_text("first line of the log\n")
    return attrs.evolve(make_config(control_ui=ControlUiConfig(enabled=True)), logging=LoggingConfig(file=str(log)))


async def test_logs_follow_shows_lines_appended_later(browser, ui_gateway, ui_config):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway, "/logs")),
                              browser.wait_text("logs-lines", "first line of the log")))
    async with await trio.open_file(ui_config.logging.file, "a") as log:
        await log.write("a line written after the page opened\n")
    text = await in_browser(browser.wait_text, "logs-lines", "a line written after the page opened")
    assert text.index("first line") < text.index("a line written after")


async def test_cron_jobs_listed_updated_by_events_and_run_now(browser, ui_gateway):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway, "/cron")),
                              browser.wait_text("cron-table", "No cron jobs.")))
    async with open_gateway_client(ui_gateway.url, token=TOKEN) as client:
        job = await client.call("cron.add", JOB)
        await in_browser(browser.wait_text, "cron-table", "nightly digest")  # from the `cron` added event
        assert "every 1h 0m" in await in_browser(browser.text_of, "cron-table")

        def run_now():
            browser.css("#cron-table button")[0].click()
            return browser.wait_text("cron-activity", "finished", 15)

        activity = await in_browser(run_now)
        runs = await client.call("cron.runs", {"id": job["id"]})
    assert job["id"] in activity and "started" in activity
    assert len(runs["entries"]) == 1


async def test_pairing_requests_appear_live_and_are_approved_from_the_page(browser, ui_gateway):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway, "/pairing")),
                              browser.wait_text("node-pending", "No pending node requests.")))
    async with open_gateway_client(ui_gateway.url, token=TOKEN) as client:
        await client.call("node.pair.request", {"nodeId": "kitchen-pi", "displayName": "Kitchen Pi",
                                                "platform": "linux"})
        await in_browser(browser.wait_text, "node-pending", "Kitchen Pi")
        assert "New pairing request from Kitchen Pi" in await in_browser(browser.text_of, "pairing-live")

        def approve():
            browser.driver.find_element("css selector", "#node-pending button[aria-label='Approve Kitchen Pi']").click()
            browser.wait_text("node-paired", "Kitchen Pi")
            return browser.wait_text("node-pending", "No pending node requests.")

        await in_browser(approve)
        with trio.fail_after(5):
            paired = await client.call("node.pair.list", {})
    assert [node["nodeId"] for node in paired["paired"]] == ["kitchen-pi"]


async def test_channels_and_sessions_panels_render(browser, ui_gateway):
    async with open_gateway_client(ui_gateway.url, token=TOKEN) as client:
        await client.call("chat.send", {"sessionKey": "agent:main:from-test", "message": "hi", "idempotencyKey": "k1"})
        await client.call("agent.wait", {"runId": "k1", "timeoutMs": 10_000})

    def run():
        browser.driver.get(dashboard_url(ui_gateway, "/sessions"))
        sessions = browser.wait_text("sessions-table", "agent:main:from-test")
        usage = browser.wait_text("usage-summary", "Last 30 days")
        browser.css("nav a[data-view='channels']")[0].click()
        browser.wait(lambda _: browser.by_id("channels-list").text.strip() != "", 10, "channels never rendered")
        return sessions, usage, browser.text_of("channels-list")

    sessions, usage, channels = await in_browser(run)
    assert "ago" in sessions
    assert usage.startswith("Last 30 days: ") and "tokens, $" in usage  # usage.cost (the echo model reports none)
    assert channels  # "No channels are configured." or one block per channel

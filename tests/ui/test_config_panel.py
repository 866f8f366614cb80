"""The Config panel in headless Chromium against config.get / config.set (secrets redacted, baseHash)."""

from __future__ import annotations

import pytest
import trio

from moltbot.config.model import ControlUiConfig
from tests.conftest import TOKEN

from .conftest import dashboard_url, in_browser

FILE = """{
  // the gateway of the Control UI tests
  gateway: {
    auth: { token: "TOKEN" },
    controlUi: { enabled: true },
  },
}
""".replace("TOKEN", TOKEN)


@pytest.fixture
def ui_config(make_config):
    config = make_config(control_ui=ControlUiConfig(enabled=True))
    config.path.write_text(FILE)
    return config


def _set_editor(browser, text: str) -> None:
    browser.script("const t = document.getElementById('config-raw'); t.value = arguments[0];"
                   "t.dispatchEvent(new Event('input'));", text)


async def test_config_shows_redacted_file_and_marks_an_invalid_field_on_its_line(browser, ui_gateway, ui_config):
    def open_config():
        browser.driver.get(dashboard_url(ui_gateway, "/config"))
        browser.wait(lambda _: "controlUi" in browser.by_id("config-raw").get_attribute("value"), 10, "no config text")
        return browser.by_id("config-raw").get_attribute("value")

    shown = await in_browser(open_config)
    assert TOKEN not in shown and "__MOLTBOT_REDACTED__" in shown and "// the gateway" in shown

    broken = shown.replace("    controlUi: { enabled: true },", '    controlUi: { enabled: true },\n    port: "not a port",')
    line = broken.splitlines().index('    port: "not a port",') + 1

    def save_broken():
        _set_editor(browser, broken)
        browser.by_id("config-save").click()
        browser.wait(lambda _: browser.css("#config-issues li.issue"), 10, "no issue shown")
        issue = browser.css("#config-issues li.issue")[0]
        marked = [li.get_attribute("data-line") for li in browser.css("#config-gutter li.bad")]
        return (issue.text, issue.get_attribute("data-path"), issue.get_attribute("data-line"), marked,
                browser.by_id("config-raw").get_attribute("aria-invalid"), browser.text_of("config-status"))

    text, path, issue_line, marked, invalid, status = await in_browser(save_broken)
    assert path == "gateway.port" and issue_line == str(line) and marked == [str(line)]
    assert f"Line {line}" in text and "gateway.port" in text
    assert invalid == "true" and status == "Not saved."
    async with await trio.open_file(ui_config.path) as handle:
        assert await handle.read() == FILE  # nothing was written

    fixed = shown.replace("  gateway: {", '  logging: { level: "debug" },\n  gateway: {')

    def save_fixed():
        _set_editor(browser, fixed)
        browser.by_id("config-save").click()
        browser.wait_text("config-status", "Saved.", 15)
        return browser.css("#config-issues li"), browser.by_id("config-raw").get_attribute("aria-invalid")

    issues, invalid = await in_browser(save_fixed)
    assert issues == [] and invalid == "false", await in_browser(browser.text_of, "config-issues")
    async with await trio.open_file(ui_config.path) as handle:
        written = await handle.read()
    assert f'token: "{TOKEN}"' in written and 'level: "debug"' in written  # the secret was restored in place


async def test_a_stale_base_hash_is_refused_with_the_gateways_message(browser, ui_gateway, ui_config):
    await in_browser(lambda: (browser.driver.get(dashboard_url(ui_gateway, "/config")),
                              browser.wait(lambda _: browser.by_id("config-raw").get_attribute("value"), 10)))
    ui_config.path.write_text(FILE.replace("the gateway of", "changed elsewhere: the gateway of"))

    def save():
        browser.by_id("config-save").click()
        return browser.wait_text("config-issues", "config changed since last load")

    assert "re-run config.get" in await in_browser(save)


async def test_json5_syntax_error_points_at_its_line(browser, ui_gateway, ui_config):
    def run():
        browser.driver.get(dashboard_url(ui_gateway, "/config"))
        browser.wait(lambda _: browser.by_id("config-raw").get_attribute("value"), 10)
        _set_editor(browser, '{\n  gateway: {\n    port: 1,,\n  }\n}\n')
        browser.by_id("config-save").click()
        browser.wait(lambda _: browser.css("#config-gutter li.bad"), 10, "no line marked")
        return [li.get_attribute("data-line") for li in browser.css("#config-gutter li.bad")], browser.text_of("config-issues")

    marked, text = await in_browser(run)
    assert marked == ["3"] and "Line 3" in text

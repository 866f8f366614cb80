"""Today's OpenClaw Control UI (its real 2026.9.6 build) in headless Chromium against our gateway.

Skips cleanly when the build (``~/.cache/moltbot-openclaw/.../dist/control-ui``) or Chromium is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from moltbot.config.model import ControlUiConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.ui.browser import Browser, browser_missing

BUILD = Path(os.environ.get("MOLTBOT_OPENCLAW_DIR", Path.home() / ".cache/moltbot-openclaw")) / (
    "openclaw/node_modules/openclaw/dist/control-ui")
DEADLINE = 90

# Text inside the UI's shadow roots: its components are Lit elements.
DEEP_TEXT = """
const parts = [];
const walk = (root) => { for (const node of root.querySelectorAll('*')) {
  if (node.shadowRoot) walk(node.shadowRoot); } parts.push(root.textContent || ''); };
walk(document); return document.body.innerText + '\\n' + parts.join('\\n');
"""
DEEP_TEXTAREA = """
const walk = (root) => { const hit = root.querySelector('textarea'); if (hit) return hit;
  for (const node of root.querySelectorAll('*')) { if (node.shadowRoot) { const inner = walk(node.shadowRoot);
  if (inner) return inner; } } return null; };
return walk(document);
"""


@pytest.fixture(scope="module")
def openclaw_browser():
    if not (BUILD / "index.html").is_file():
        pytest.skip(f"OpenClaw's Control UI build is absent ({BUILD}; ../shared/original/setup-openclaw.sh)")
    reason = browser_missing()
    if reason is not None:
        pytest.skip(f"needs headless Chromium: {reason}")
    instance = Browser(width=1400, height=900)
    try:
        yield instance
    finally:
        instance.close()


def _connect_and_chat(browser: Browser, url: str) -> tuple[str, str]:
    from selenium.webdriver.common.keys import Keys

    driver = browser.driver
    driver.get(url)
    browser.wait(lambda _: "Connected" in browser.script(DEEP_TEXT), 40, "the UI never showed Connected")
    connected = browser.script(DEEP_TEXT)
    browser.wait(lambda _: browser.script(DEEP_TEXTAREA) is not None, 20, "no composer")
    composer = browser.script(DEEP_TEXTAREA)
    composer.click()
    composer.send_keys("hello from the OpenClaw UI")
    composer.send_keys(Keys.ENTER)
    browser.wait(lambda _: "You said: hello from the OpenClaw UI" in browser.script(DEEP_TEXT), 30,
                 "no echo reply was streamed into the chat")
    return connected, browser.script(DEEP_TEXT)


async def test_the_openclaw_control_ui_connects_and_chats_with_echo(make_config, openclaw_browser):
    config = make_config(control_ui=ControlUiConfig(root=str(BUILD)))
    with trio.fail_after(DEADLINE + 30):
        async with open_gateway(config, port=0, env={}) as gateway:
            url = f"{gateway.urls[0]}/#token={TOKEN}"
            with trio.fail_after(DEADLINE):
                connected, after = await trio.to_thread.run_sync(_connect_and_chat, openclaw_browser, url)
    assert "Connected" in connected and "Echo (offline test model)" in after
    assert "unknown method: chat.startup" not in after

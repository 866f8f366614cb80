"""Screenshots of the Control UI's main views (docs/control-ui/*.png), taken in headless Chromium.

    python docs/screenshots.py

Starts a real gateway process in a temporary HOME (``moltbot setup`` then ``moltbot gateway --port 0``),
gives it something to show (cron jobs, a chat session, a pending node pairing request), opens the URL
``moltbot dashboard`` prints, and saves one screenshot per view. Needs Debian's chromium and
chromium-driver, like tests/ui.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moltbot.client import open_gateway_client  # noqa: E402
from tests.ui.browser import Browser, browser_missing  # noqa: E402

OUT = ROOT / "docs" / "control-ui"
MOLTBOT = [sys.executable, "-m", "moltbot"]


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), COLUMNS="120")
    return env


def start_gateway(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    subprocess.run([*MOLTBOT, "setup", "--non-interactive"], env=env, check=True, capture_output=True)
    process = subprocess.Popen([*MOLTBOT, "gateway", "--port", "0", "--allow-unconfigured"], env=env,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    seen, deadline = b"", time.monotonic() + 30
    while not (match := re.search(rb"listening on ws://127\.0\.0\.1:(\d+)", seen)):
        chunk = os.read(process.stderr.fileno(), 65536)
        if not chunk or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"gateway did not start: {seen.decode(errors='replace')}")
        seen += chunk
    env["CLAWDBOT_GATEWAY_PORT"] = match.group(1).decode()
    return process, f"ws://127.0.0.1:{env['CLAWDBOT_GATEWAY_PORT']}"


async def seed(url: str, token: str) -> None:
    async with open_gateway_client(url, token=token, display_name="build-server", client_id="gateway-client") as c:
        await c.call("cron.add", {"name": "Morning briefing", "schedule": {"kind": "cron", "expr": "0 7 * * 1-5",
                                  "tz": "Europe/Berlin"}, "sessionTarget": "isolated",
                                  "payload": {"kind": "agentTurn", "message": "Summarise my inbox"}})
        await c.call("cron.add", {"name": "Water the plants", "schedule": {"kind": "every", "everyMs": 86_400_000},
                                  "sessionTarget": "main", "payload": {"kind": "systemEvent", "text": "Plants!"}})
        await c.call("chat.send", {"sessionKey": "agent:main:groceries", "message": "Milk, eggs and coffee",
                                   "idempotencyKey": "seed-1"})
        await c.call("agent.wait", {"runId": "seed-1", "timeoutMs": 10_000})
        await c.call("node.pair.request", {"nodeId": "kitchen-pi", "displayName": "Kitchen Pi",
                                           "platform": "linux", "version": "0.1.0"})


def shoot(browser: Browser, url: str, token: str) -> list[Path]:
    shots = []

    def save(name: str) -> None:
        time.sleep(0.3)  # let the last frame paint (screenshots only; tests wait on state instead)
        path = OUT / f"{name}.png"
        browser.driver.save_screenshot(str(path))
        shots.append(path)

    def view(name: str, ready) -> None:
        browser.css(f"nav a[data-view='{name}']")[0].click()
        browser.wait(ready, 10, f"{name} never rendered")

    browser.driver.get(url)
    browser.wait_text("ov-health", "OK")
    save("overview")
    view("channels", lambda _: browser.text_of("channels-list").strip())
    save("channels")
    view("sessions", lambda _: "groceries" in browser.text_of("sessions-table"))
    save("sessions")
    view("chat", lambda _: browser.by_id("chat-input").is_displayed())
    browser.by_id("chat-input").send_keys("What can you do?\n")
    browser.wait(lambda _: browser.css("#chat-log .msg.assistant[data-state='final']"), 15)
    save("chat")
    view("logs", lambda _: browser.css("#logs-lines li"))
    save("logs")
    view("cron", lambda _: "Morning briefing" in browser.text_of("cron-table"))
    save("cron")
    view("pairing", lambda _: "Kitchen Pi" in browser.text_of("node-pending"))
    save("pairing")
    view("config", lambda _: browser.by_id("config-raw").get_attribute("value"))
    save("config")
    text = browser.by_id("config-raw").get_attribute("value")
    broken = re.sub(r'("?gateway"?\s*:\s*\{)', r'\1\n    "port": "eighteen",', text, count=1)
    browser.script("const t = document.getElementById('config-raw'); t.value = arguments[0];"
                   "t.dispatchEvent(new Event('input'));", broken)
    browser.by_id("config-save").click()
    browser.wait(lambda _: browser.css("#config-issues li.issue"), 10)
    save("config-error")
    browser.driver.set_window_size(390, 844)
    browser.css("nav a[data-view='overview']")[0].click()
    browser.wait_text("ov-health", "OK")
    save("overview-narrow")
    return shots


def main() -> None:
    reason = browser_missing()
    if reason:
        sys.exit(f"cannot take screenshots: {reason}")
    OUT.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="moltbot-screens-"))
    env = environment(home)
    process, ws_url = start_gateway(env)
    browser = None
    try:
        dashboard = json.loads(subprocess.run([*MOLTBOT, "dashboard", "--json"], env=env, check=True,
                                              capture_output=True, text=True).stdout)
        token = dashboard["url"].split("#token=", 1)[1]
        trio.run(seed, ws_url, token)
        browser = Browser(width=1200, height=820)
        for path in shoot(browser, dashboard["url"], token):
            print(path.relative_to(ROOT))
    finally:
        if browser is not None:
            browser.close()
        process.terminate()
        process.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark (by hand): Control UI page load to the first live health render, in headless Chromium.

    python bench/bench_control_ui.py [--loads 20]

The gateway runs as its own process (``moltbot gateway --port 0`` in a temporary HOME); this process drives
Debian's Chromium through chromedriver (Selenium). Timings come from the page itself: ``performance.now()``
counts from navigation start, and the page records, in ``window.__moltbotMetrics``:

- ``helloMs``: hello-ok received (WebSocket open, challenge, signed connect, device check);
- ``firstHealthRenderMs``: the health card first rendered from live gateway data (hello-ok's snapshot);
- ``firstHealthEventMs``: the first ``health`` event rendered (the gateway coalesces health refreshes to at
  most one per second, so this one waits for the next refresh slot).

The first load of a fresh browser profile is reported apart (it generates the Ed25519 key and is paired);
the ``--loads`` warm loads that follow reuse the stored key and token. Target (issue 11): first live health
render p50 ≤ 300 ms on loopback.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui.browser import Browser, browser_missing  # noqa: E402

TOKEN = "bench-token-0123456789"
TARGET_MS = 300


def start_gateway(home: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "moltbot", "gateway", "--allow-unconfigured", "--port", "0", "--token", TOKEN],
        env=env,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    seen, deadline = b"", time.monotonic() + 30
    while not (match := re.search(rb"listening on ws://(127\.0\.0\.1:\d+)", seen)):
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"gateway did not start: {seen.decode(errors='replace')}")
        chunk = os.read(process.stderr.fileno(), 65536)
        if not chunk:
            raise RuntimeError(f"gateway exited: {seen.decode(errors='replace')}")
        seen += chunk
    return process, "http://" + match.group(1).decode()


def load(browser: Browser, url: str) -> dict:
    browser.driver.get("about:blank")
    browser.driver.get(url)
    browser.wait(
        lambda _: browser.script("return (window.__moltbotMetrics || {}).firstHealthEventMs"),
        10,
        "no health event rendered",
    )
    return browser.script("""
        const m = window.__moltbotMetrics, nav = performance.getEntriesByType('navigation')[0];
        return {helloMs: m.helloMs, firstHealthRenderMs: m.firstHealthRenderMs,
                firstHealthEventMs: m.firstHealthEventMs, domContentLoadedMs: nav.domContentLoadedEventEnd};""")


def quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()
    reason = browser_missing()
    if reason:
        sys.exit(f"cannot run: {reason}")
    home = Path(tempfile.mkdtemp(prefix="moltbot-bench-ui-"))
    process, base = start_gateway(home)
    browser = Browser()
    try:
        first = load(browser, f"{base}/#token={TOKEN}")
        warm = [load(browser, f"{base}/") for _ in range(args.loads)]
    finally:
        browser.close()
        process.terminate()
        process.wait(10)
        shutil.rmtree(home, ignore_errors=True)
    print(f"Control UI, {args.loads} warm loads on loopback (first load of a fresh profile apart)\n")
    print("| measure (ms from navigation start) | first load | warm p50 | warm p90 |")
    print("| --- | --- | --- | --- |")
    for key, label in (
        ("domContentLoadedMs", "DOMContentLoaded"),
        ("helloMs", "hello-ok received"),
        ("firstHealthRenderMs", "first live health render"),
        ("firstHealthEventMs", "first `health` event rendered"),
    ):
        p50, p90 = quantiles([sample[key] for sample in warm])
        print(f"| {label} | {first[key]:.0f} | {p50:.0f} | {p90:.0f} |")
    p50, _ = quantiles([sample["firstHealthRenderMs"] for sample in warm])
    mark = "✓" if p50 <= TARGET_MS else "✗"
    print(f"\nTarget: first live health render p50 ≤ {TARGET_MS} ms: {p50:.0f} ms {mark}")


if __name__ == "__main__":
    main()

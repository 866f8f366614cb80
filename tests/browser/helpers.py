"""Shared by the browser tests: a gateway with the browser control service on, and a page to drive."""

from __future__ import annotations

import shutil
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from moltbot.config.model import BrowserConfig, BrowserProfileConfig, CanvasHostConfig
from moltbot.gateway.app import open_gateway

from ..conftest import TOKEN

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (/usr/bin/chromium)")

COUNTER_PAGE = """<!doctype html><html><head><title>Counter demo</title></head><body>
<h1>Counter</h1>
<button id="inc" onclick="document.getElementById('out').textContent = 'Count: ' + (++window.n)">Increment</button>
<p id="out">Count: 0</p>
<label>Name <input id="name" aria-label="Name"></label>
<select aria-label="Colour"><option value="r">Red</option><option value="g">Green</option></select>
<script>window.n = 0; console.log("page ready");</script>
</body></html>"""


def free_port_block(size: int = 20) -> tuple[int, int]:
    """The start of a CDP port range found free right now (ephemeral port from the kernel): the range's
    collision detection skips any port another test or process takes meanwhile."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        start = probe.getsockname()[1]
    start = min(start, 65535 - size)
    return start, start + size


def browser_config(**changes: Any) -> BrowserConfig:
    start, end = free_port_block()
    base = BrowserConfig(control_port=0, cdp_port_range=[start, end], headless=True, idle_timeout_ms=0)
    return attrs.evolve(base, **changes)


def canvas_with_page(tmp_path: Path, html: str = COUNTER_PAGE) -> CanvasHostConfig:
    root = tmp_path / "canvas"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(html)
    return CanvasHostConfig(root=str(root), port=0, live_reload=False)


@asynccontextmanager
async def browser_gateway(
    make_config,
    tmp_path: Path,
    *,
    browser: BrowserConfig | None = None,
    canvas: bool = True,
    env: dict[str, str] | None = None,
):
    config = make_config(
        canvas_host=canvas_with_page(tmp_path) if canvas else CanvasHostConfig(enabled=False)
    )
    config = attrs.evolve(config, browser=browser or browser_config())
    async with open_gateway(config, port=0, env=env or {}) as gw:
        service = gw.runtime.browser
        if service.url is None:
            with trio.fail_after(10):
                await service.next_start().wait()
        yield gw


def api(gw, *, token: str | None = TOKEN) -> httpx.AsyncClient:
    """An HTTP client of the gateway's browser control service (with the gateway token by default)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=gw.runtime.browser.url, headers=headers, timeout=30)


def canvas_url(gw) -> str:
    return f"http://127.0.0.1:{gw.canvas.port}/"


__all__ = ["BrowserProfileConfig", "api", "browser_config", "browser_gateway", "canvas_url", "needs_chromium"]

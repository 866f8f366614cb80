"""Fixtures for the Control UI: a gateway serving it on port 0 and one headless Chromium per test module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import trio

from moltbot.config.model import ControlUiConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN

from .browser import Browser, browser_missing

T = TypeVar("T")


@pytest.fixture(scope="module")
def browser():
    reason = browser_missing()
    if reason is not None:
        pytest.skip(f"browser tests need headless Chromium: {reason}")
    instance = Browser()
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def ui_config(make_config):
    return make_config(control_ui=ControlUiConfig(enabled=True))


@pytest.fixture
async def ui_gateway(ui_config):
    # The deadline covers the test too (the fixture yields inside it): browser tests need more than 10 s
    # on a loaded machine.
    with trio.fail_after(120):
        async with open_gateway(ui_config, port=0, env={}) as gateway:
            yield gateway


BROWSER_DEADLINE = 30


async def in_browser(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking driver call in a worker thread, bounded by ``BROWSER_DEADLINE`` seconds."""
    with trio.fail_after(BROWSER_DEADLINE):
        return await trio.to_thread.run_sync(fn, *args)


def dashboard_url(gateway: Any, path: str = "/", token: str | None = TOKEN) -> str:
    return gateway.urls[0] + path + (f"#token={token}" if token else "")

"""A gateway imports what its configuration uses when it uses it: one with no channels, providers, cron
jobs, browser control or device clients does not load their libraries (issue 17: start-up and idle RSS).

Read from ``sys.modules`` of a fresh interpreter that starts an embedded gateway and stops it (no timing).
A module listed here that a change starts importing at start-up shows in the assertion message.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import attrs

from moltbot.gateway.methods import _HANDLERS, HANDLERS
from moltbot.gateway.methods.ids import resolve_handler
from moltbot.protocol import EVENT_PAYLOADS, EVENTS, METHODS

# Each is imported by the code that uses it: the first HTTP request (Quart), the first provider (httpx),
# the first cron expression, the first device's connect, a Discord/Slack/Telegram account, ...
NOT_AT_START = (
    "quart",
    "quart_trio",
    "flask",
    "werkzeug",
    "jinja2",
    "httpx",
    "httpcore",
    "croniter",
    "dateutil",
    "cryptography",
    "rich",
    "pygments",
    "watchfiles",
    "psutil",
    "trio_websocket",
    "moltbot.client",
    "moltbot.cli",
    "moltbot.http.app",
    "moltbot.channels.discord",
    "moltbot.channels.slack",
    "moltbot.channels.telegram",
    "moltbot.agents.providers.http",
    "moltbot.browser.manager",
    # a method's handler module and its payload classes: with its first call (the tables name them)
    *(
        f"moltbot.gateway.methods.{name}"
        for name in (
            "agent",
            "approvals",
            "browser",
            "channels",
            "compact",
            "config",
            "cron",
            "devices",
            "logs",
            "nodes",
            "sessions",
            "system",
            "ui",
            "ui_none",
            "usage",
        )
    ),
    *(
        f"moltbot.protocol._payloads.{name}"
        for name in ("browser", "channels", "config", "logs", "ui", "usage")
    ),
)

PROGRAM = """
import json, sys
import trio
from moltbot import AuthConfig, Config, GatewayConfig, open_gateway

async def main(state_dir):
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token="t" * 32)))
    async with open_gateway(config, port=0, state_dir=state_dir) as gateway:
        assert gateway.url
    sys.stdout.write(json.dumps(sorted(sys.modules)))

trio.run(main, sys.argv[1])
"""


def test_a_gateway_without_channels_loads_none_of_their_libraries(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout)
    early = [
        name for name in loaded if any(name == lazy or name.startswith(lazy + ".") for lazy in NOT_AT_START)
    ]
    assert not early, early


def test_every_lazy_handler_reference_names_a_handler_of_a_method_in_the_table():
    assert set(HANDLERS) == set(_HANDLERS) <= set(METHODS)
    for method, ref in _HANDLERS.items():
        handler = resolve_handler(ref)
        assert inspect.iscoroutinefunction(handler), (method, ref)
        assert HANDLERS[method].__name__ == handler.__name__


def test_every_lazy_payload_reference_of_the_method_and_event_tables_names_a_type():
    for name, spec in METHODS.items():
        assert attrs.has(spec.params), name
        assert not isinstance(spec.result, str) and spec.result is not None, name
        assert spec.normalize is None or callable(spec.normalize), name
    assert list(EVENT_PAYLOADS) == list(EVENTS)
    assert all(attrs.has(EVENT_PAYLOADS[name]) for name in EVENTS)

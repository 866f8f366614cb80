"""An embedded gateway (``open_gateway``) writes only under its state dir and leaves the process as it was."""

import logging

import trio

from moltbot import AuthConfig, Config, GatewayConfig, open_gateway, open_gateway_client
from tests.conftest import TOKEN


def _logging_state() -> dict[str, tuple]:
    """Every logger's handlers, filters, level and propagation (the root's included)."""
    loggers = {"": logging.getLogger()} | {
        name: logger for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)}
    return {name: (tuple(logger.handlers), tuple(logger.filters), logger.level, logger.propagate)
            for name, logger in loggers.items()}


async def test_default_config_runs_in_a_temporary_state_dir_removed_at_the_end(isolated_home):
    home_before = sorted(isolated_home.rglob("*"))
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)))
    with trio.fail_after(20):
        async with open_gateway(config, port=0) as gateway:
            state_dir = gateway.config.state_dir
            assert state_dir is not None and state_dir.is_dir() and (state_dir.stat().st_mode & 0o777) == 0o700
            async with open_gateway_client(gateway.url, token=TOKEN) as client:
                await client.call("chat.send", {"sessionKey": "main", "message": "hi", "idempotencyKey": "e1"})
                await client.call("agent.wait", {"runId": "e1", "timeoutMs": 5000})
            # The session store and the agent's workspace are inside it; no canvas port was opened.
            assert (state_dir / "agents" / "main" / "sessions" / "sessions.json").exists()
            assert (state_dir / "workspace").is_dir()
            assert gateway.canvas.url is None
    assert not state_dir.exists()
    assert sorted(isolated_home.rglob("*")) == home_before


async def test_a_given_state_dir_is_kept_and_used(tmp_path):
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)))
    with trio.fail_after(20):
        async with open_gateway(config, port=0, state_dir=tmp_path / "state") as gateway:
            assert gateway.config.state_dir == tmp_path / "state"
            assert gateway.config.agents.defaults.workspace == str(tmp_path / "state" / "workspace")
    assert (tmp_path / "state").is_dir()


async def test_embedding_changes_no_logging_configuration(make_config):
    import moltbot.channels.telegram.api  # noqa: F401 (imported by the gateway anyway: its import must not patch)

    before = _logging_state()
    with trio.fail_after(20):
        async with open_gateway(make_config(), port=0):
            pass
    after = _logging_state()
    assert {name: after[name] for name in before} == before
    assert all(state == (tuple(), tuple(), logging.NOTSET, True) for name, state in after.items()
               if name not in before)


# Run in a fresh interpreter: this one imported moltbot long ago. Every module attribute of hypercorn and
# wsproto, and every attribute of the classes they define, is recorded before moltbot is imported, then
# compared (by identity) after a gateway has run and served an HTTP request and WebSocket connects on
# both paths (the lean one and hypercorn's ASGI one, whose streams get our close handling).
_HYPERCORN_SNAPSHOT = r"""
import asyncio, importlib, pkgutil, sys
import hypercorn, wsproto

def modules():
    for package in (hypercorn, wsproto):
        yield package
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.startswith(("hypercorn.asyncio", "hypercorn.__main__")):
                try:
                    yield importlib.import_module(info.name)
                except ImportError:  # an optional extra (uvloop, aioquic)
                    pass

def snapshot():
    found = {}
    for module in modules():
        for name, value in list(vars(module).items()):
            found[f"{module.__name__}.{name}"] = value
            if isinstance(value, type) and value.__module__ == module.__name__:
                for attr, member in list(vars(value).items()):
                    found[f"{module.__name__}.{name}.{attr}"] = member
    return found

before = snapshot()

import trio
import moltbot
from moltbot import AuthConfig, Config, GatewayConfig, open_gateway, open_gateway_client

async def main():
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token="t" * 32)))
    for env in ({}, {"MOLTBOT_WS_PATH": "asgi"}):
        with trio.fail_after(30):
            async with open_gateway(config, port=0, env=env) as gateway:
                async with open_gateway_client(gateway.url, token="t" * 32) as client:
                    await client.call("health", {})
                stream = await trio.open_tcp_stream("127.0.0.1", gateway.port)
                await stream.send_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1")
                await stream.aclose()

trio.run(main)
after = snapshot()
changed = sorted(name for name, value in before.items() if after.get(name, before) is not value)
print("CHANGED", changed, flush=True)
sys.exit(1 if changed else 0)
"""


def test_importing_and_running_a_gateway_changes_nothing_of_hypercorn(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _HYPERCORN_SNAPSHOT], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env={**__import__("os").environ, "HOME": str(tmp_path)})
    assert result.returncode == 0 and "CHANGED []" in result.stdout, result.stdout + result.stderr[-3000:]

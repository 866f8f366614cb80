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

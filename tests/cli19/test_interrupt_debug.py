"""Ctrl-C exits 130 without a traceback (``agent`` mid-reply, ``node run`` while reconnecting); ``--debug``
and ``MOLTBOT_DEBUG=1`` show the traceback that is otherwise left out."""

from __future__ import annotations

import attrs

from moltbot.config.model import AgentDefaults, AgentsConfig, ModelProviderConfig, ModelsConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN
from tests.fakes.openai import open_fake_openai, stream_reply, text_chunks

from .helpers import cli_env, closed_port, interrupt_after, run_cli


async def test_ctrl_c_on_agent_mid_reply_exits_130_without_traceback(tmp_path, make_config):
    async with open_fake_openai(stream_reply(*text_chunks("Hel"), then="hang")) as fake:
        config = attrs.evolve(make_config(), agents=AgentsConfig(defaults=AgentDefaults(model="local/fake-model")),
                              models=ModelsConfig(providers={"local": ModelProviderConfig(
                                  base_url=fake.base_url, api_key="sk-test", api="openai-completions")}))
        async with open_gateway(config, port=0, env={}) as gateway:
            code, stdout, stderr = await interrupt_after(
                cli_env(tmp_path / "home"), ["agent", "-m", "hi", "--url", gateway.url, "--token", TOKEN],
                b"Hel", stream="stdout")
    assert code == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stdout.startswith("Hel") and "aborted" in stderr


async def test_ctrl_c_on_node_run_exits_130_without_traceback(tmp_path):
    url = f"ws://127.0.0.1:{closed_port()}"
    code, _, stderr = await interrupt_after(cli_env(tmp_path / "home"), ["node", "run", "--url", url],
                                            b"gateway connection ended")
    assert code == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.rstrip().endswith("error: interrupted")


async def test_ctrl_c_exits_130_when_the_test_run_is_a_background_job(tmp_path):
    """A suite started as ``pytest … &`` hands its children SIGINT ignored; the interrupt still lands."""
    url = f"ws://127.0.0.1:{closed_port()}"
    code, _, stderr = await interrupt_after(cli_env(tmp_path / "home"), ["node", "run", "--url", url],
                                            b"gateway connection ended", background=True)
    assert code == 130, stderr


async def test_debug_flag_shows_the_traceback_of_ctrl_c(tmp_path):
    url = f"ws://127.0.0.1:{closed_port()}"
    code, _, stderr = await interrupt_after(cli_env(tmp_path / "home"), ["node", "run", "--url", url, "--debug"],
                                            b"gateway connection ended")
    assert code == 130
    assert "Traceback" in stderr and "KeyboardInterrupt" in stderr


async def test_moltbot_debug_env_shows_the_traceback_and_keeps_the_exit_code(tmp_path):
    env = cli_env(tmp_path / "home", MOLTBOT_DEBUG="1")
    result = await run_cli(env, "--profile", "nosuch", "status")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "ProfileMissing" in result.stderr


async def test_without_debug_the_same_failure_is_one_line(tmp_path):
    result = await run_cli(cli_env(tmp_path / "home"), "--profile", "nosuch", "status")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr

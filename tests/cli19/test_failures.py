"""Every client command fails in one to three lines with exit 1 (2 for usage), never a traceback: against a
closed port, with a wrong token, and a failing provider; an http:// URL (the dashboard's) is mapped to ws://."""

from __future__ import annotations

import json

import pytest

from moltbot.config.model import AgentDefaults, AgentsConfig, ModelProviderConfig, ModelsConfig
from moltbot.gateway.app import open_gateway
from tests.conftest import CLI_DEADLINE_S, TOKEN, gateway_fixture
from tests.fakes.openai import open_fake_openai, text_reply

from .helpers import cli_env, closed_port, run_cli, short_failure

gateway = gateway_fixture(CLI_DEADLINE_S)  # these tests start the CLI as a process

CLIENT_COMMANDS = [
    ("status",), ("health",), ("gateway", "call", "status"), ("logs",), ("agent", "-m", "hi"),
    ("cron", "list"), ("devices", "list"), ("nodes", "list"),
]
ALL_CLIENT_COMMANDS = [*CLIENT_COMMANDS, ("conformance", "--only", "connect.probe")]


def _ids(commands):
    return [" ".join(command[:2]) for command in commands]


@pytest.mark.parametrize("command", ALL_CLIENT_COMMANDS, ids=_ids(ALL_CLIENT_COMMANDS))
@pytest.mark.parametrize("scheme", ["ws", "http"])
async def test_closed_port_fails_in_a_few_lines_with_exit_1(tmp_path, command, scheme):
    url = f"{scheme}://127.0.0.1:{closed_port()}"
    result = await run_cli(cli_env(tmp_path / "home"), *command, "--url", url, "--token", TOKEN)
    assert result.returncode == 1, result.stderr
    assert short_failure(result), result.stderr
    assert "127.0.0.1" in result.stderr


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=_ids(CLIENT_COMMANDS))
async def test_wrong_token_fails_in_a_few_lines_with_exit_1(tmp_path, gateway, command):
    result = await run_cli(cli_env(tmp_path / "home"), *command, "--url", gateway.url, "--token", "wrong")
    assert result.returncode == 1, result.stderr
    assert short_failure(result, lines=4), result.stderr
    assert "token mismatch" in result.stderr


async def test_conformance_with_a_wrong_token_exits_1_without_traceback(tmp_path, gateway):
    result = await run_cli(cli_env(tmp_path / "home"), "conformance", "--only", "connect.probe",
                           "--url", gateway.url, "--token", "wrong")
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout


async def test_conformance_with_a_wrong_token_says_so_in_two_lines_not_a_table_of_skips(tmp_path, gateway):
    result = await run_cli(cli_env(tmp_path / "home"), "conformance", "--url", gateway.url, "--token", "wrong")
    assert result.returncode == 1 and result.stdout == "", result.stdout[:500]
    assert short_failure(result, lines=2), result.stderr
    assert result.stderr.count("token mismatch") == 1 and "protocols 3, 4, 7" in result.stderr
    as_json = await run_cli(cli_env(tmp_path / "home"), "conformance", "--json", "--url", gateway.url,
                            "--token", "wrong")
    assert as_json.returncode == 1 and len(json.loads(as_json.stdout)["results"]) > 1  # the report, whole


@pytest.mark.parametrize("command", ALL_CLIENT_COMMANDS, ids=_ids(ALL_CLIENT_COMMANDS))
async def test_http_url_of_the_dashboard_is_mapped_to_ws_with_a_note(tmp_path, gateway, command):
    http_url = gateway.url.replace("ws://", "http://") + "/"
    result = await run_cli(cli_env(tmp_path / "home"), *command, "--url", http_url, "--token", TOKEN)
    assert result.returncode == 0, result.stderr
    assert f"connecting to {gateway.url}/" in result.stderr and "Traceback" not in result.stderr


async def test_http_url_fragment_token_is_used_when_no_token_is_given(tmp_path, gateway):
    url = gateway.url.replace("ws://", "http://") + f"/#token={TOKEN}"
    result = await run_cli(cli_env(tmp_path / "home"), "health", "--url", url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


async def test_a_url_that_is_neither_ws_nor_http_is_a_usage_error(tmp_path):
    result = await run_cli(cli_env(tmp_path / "home"), "status", "--url", "ftp://127.0.0.1:1")
    assert result.returncode == 2 and "not a gateway URL" in result.stderr


def _provider_config(make_config, base_url: str, api_key: str = "sk-test"):
    import attrs

    return attrs.evolve(make_config(), agents=AgentsConfig(defaults=AgentDefaults(model="local/fake-model")),
                        models=ModelsConfig(providers={"local": ModelProviderConfig(
                            base_url=base_url, api_key=api_key, api="openai-completions")}))


async def test_agent_with_an_unreachable_provider_prints_one_line_and_exits_1(tmp_path, make_config):
    config = _provider_config(make_config, f"http://127.0.0.1:{closed_port()}/v1")
    async with open_gateway(config, port=0, env={}) as gateway:
        result = await run_cli(cli_env(tmp_path / "home"), "agent", "-m", "hi", "--url", gateway.url,
                               "--token", TOKEN)
    assert result.returncode == 1, result.stderr
    assert short_failure(result, lines=2), result.stderr
    assert "cannot connect to" in result.stderr


async def test_agent_with_a_wrong_api_key_prints_one_line_and_exits_1(tmp_path, make_config):
    async with open_fake_openai(default=text_reply("never"), api_key="sk-right") as fake:
        async with open_gateway(_provider_config(make_config, fake.base_url, "sk-wrong"), port=0, env={}) as gateway:
            result = await run_cli(cli_env(tmp_path / "home"), "agent", "-m", "hi", "--url", gateway.url,
                                   "--token", TOKEN)
    assert result.returncode == 1, result.stderr
    assert short_failure(result, lines=2), result.stderr


@pytest.mark.parametrize("args", [
    ("gateway", "call", "status", "--params", "notjson"),
    ("nodes", "invoke", "--node", "x", "--command", "system.which", "--params", "notjson"),
    ("cron", "run", "job", "--due", "--force"),
], ids=["gateway-call", "nodes-invoke", "cron-run"])
async def test_usage_errors_exit_2(tmp_path, args):
    result = await run_cli(cli_env(tmp_path / "home"), *args, "--url", f"ws://127.0.0.1:{closed_port()}")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


async def test_nodes_invoke_names_an_unknown_node(tmp_path, gateway):
    result = await run_cli(cli_env(tmp_path / "home"), "nodes", "invoke", "--node", "nosuch", "--command",
                           "system.which", "--url", gateway.url, "--token", TOKEN)
    assert result.returncode == 1
    assert "no node 'nosuch' is known" in result.stderr and "not connected" not in result.stderr


async def test_dashboard_help_has_no_rst_markup(tmp_path):
    result = await run_cli(cli_env(tmp_path / "home"), "dashboard", "--help")
    assert result.returncode == 0 and "``" not in result.stdout and "#token=" in result.stdout

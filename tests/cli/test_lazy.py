"""The command tree is lazy: ``moltbot --help`` imports no command module, and a command's module is
imported (and given the shared flags) when that command runs.

What ``--help`` imports is read from ``sys.modules`` of a fresh interpreter (no timing: the module list is
what makes it fast, and it does not move with the machine's load).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from moltbot.cli import COMMANDS, cli
from moltbot.cli.base import LazyCommand, MoltbotGroup, install, profile_options, short_help
from moltbot.cli.gateway import SUBCOMMANDS

from ..cli19.helpers import cli_env
from ..cli_inprocess import invoke_cli

# What a ``--help`` must not pay for: each command's module, the gateway, the client stack, rich.
HEAVY = (
    "trio",
    "rich",
    "httpx",
    "quart",
    "hypercorn",
    "cryptography",
    "cattrs",
    "moltbot.client",
    "moltbot.gateway",
    "moltbot.protocol._codec",
    "moltbot.config.model",
)


def _modules_after(*argv: str) -> list[str]:
    program = (
        "import json, sys\nimport moltbot.cli\nsys.argv = ['moltbot', *json.loads(sys.argv[1])]\n"
        "try:\n    moltbot.cli.main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", program, json.dumps(argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "Commands:" in done.stdout
    return json.loads(done.stderr)


def test_help_imports_no_command_module_and_nothing_heavy():
    loaded = _modules_after("--help")
    heavy = [name for name in loaded if any(name == h or name.startswith(h + ".") for h in HEAVY)]
    commands = sorted(
        {f"moltbot.cli.{entry.module.rsplit('.', 1)[1]}" for entry in COMMANDS.values()} & set(loaded)
    )
    assert not heavy and not commands, (heavy, commands)


def test_gateway_help_lists_its_subcommands_without_importing_them():
    loaded = _modules_after("gateway", "--help")
    assert "moltbot.cli.gateway" in loaded
    assert "moltbot.cli.service" not in loaded and "moltbot.cli.devices" not in loaded


@pytest.mark.parametrize(
    ("group", "table"), [(cli, COMMANDS), (cli.get_command(click.Context(cli), "gateway"), SUBCOMMANDS)]
)
def test_each_summary_is_what_the_command_itself_lists(group, table):
    for name, entry in table.items():
        command = entry.load()
        assert command.name == name
        for limit in (30, 45, 60, 200):
            assert short_help(entry.summary, limit) == command.get_short_help_str(limit), (name, limit)


def test_help_lists_every_command_of_the_table_in_order():
    result = CliRunner().invoke(cli, ["--help"], prog_name="moltbot")
    listed = [
        line.split()[0] for line in result.output.split("Commands:\n", 1)[1].splitlines() if line.strip()
    ]
    assert result.exit_code == 0 and listed == sorted(COMMANDS)


def test_a_loaded_command_gets_the_shared_flags_and_settles_the_profile(tmp_path):
    # in-process, the environment restored after (a profile fills environment variables)
    result = invoke_cli(cli_env(tmp_path), "logs", "--profile", "nosuchprofile")
    assert result.returncode == 2 and "nosuchprofile" in result.stderr + result.stdout


def _group_with(entry: LazyCommand) -> click.Group:
    @click.group(cls=MoltbotGroup, params=profile_options(), lazy={"broken": entry})
    def root() -> None:
        pass

    install(root)
    return root


def test_a_missing_module_behind_a_lazy_command_is_reported_not_hidden():
    group = _group_with(LazyCommand("moltbot.no_such_module_here", "command", "Broken on purpose."))
    listed = CliRunner().invoke(group, ["--help"])
    assert listed.exit_code == 0 and "Broken on purpose." in listed.output
    result = CliRunner().invoke(group, ["broken"], env={"MOLTBOT_DEBUG": ""})
    assert result.exit_code == 1
    assert "ModuleNotFoundError" in result.output and "moltbot.no_such_module_here" in result.output


def test_an_unknown_command_suggests_lazy_names():
    result = CliRunner().invoke(cli, ["statu"], prog_name="moltbot")
    assert result.exit_code == 2 and "status" in result.output

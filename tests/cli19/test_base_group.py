"""``MoltbotGroup`` turns what any command lets escape into a short message and an exit code."""

from __future__ import annotations

import click
from click.testing import CliRunner

from moltbot.cli.base import MoltbotGroup, install, profile_options


def _group(body) -> click.Group:
    @click.group(cls=MoltbotGroup, params=profile_options())
    def root() -> None:
        pass

    @root.command("boom")
    def boom() -> None:
        body()

    install(root)
    return root


def _run(body, *args: str):
    return CliRunner().invoke(_group(body), ["boom", *args], env={"MOLTBOT_DEBUG": ""})


def _unexpected() -> None:
    raise RuntimeError("something odd")


def _prompt_interrupted() -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise click.Abort() from None  # what click.prompt does on Ctrl-C


def _group_with_interrupt() -> None:
    raise BaseExceptionGroup("nursery", [ValueError("x"), KeyboardInterrupt()])


def test_unexpected_exception_is_one_line_naming_it_and_the_debug_flag():
    result = _run(_unexpected)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: unexpected RuntimeError: something odd",
        "hint: this is a bug in moltbot: rerun with --debug (or MOLTBOT_DEBUG=1) for the traceback and report it"]


def test_debug_flag_after_the_command_prints_the_traceback_first():
    result = _run(_unexpected, "--debug")
    assert result.exit_code == 1 and "Traceback" in result.output and "RuntimeError: something odd" in result.output


def test_ctrl_c_at_a_prompt_exits_130():
    result = _run(_prompt_interrupted)
    assert result.exit_code == 130 and result.output.strip() == "error: interrupted"


def test_interrupt_inside_an_exception_group_exits_130():
    result = _run(_group_with_interrupt)
    assert result.exit_code == 130 and "Traceback" not in result.output

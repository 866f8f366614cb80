"""The ``moltbot`` group's behaviour shared by every command: failures, ``--debug`` and the profile flags.

``MoltbotGroup.invoke`` wraps the whole command tree, so a failure of any command (also those defined in
other modules) prints one or two lines and exits 1, 130 on Ctrl-C (``errors.py``); with ``--debug`` or
``MOLTBOT_DEBUG=1`` the traceback comes first. ``install`` gives every command ``--dev``, ``--profile`` and
``--debug`` after its own name too (``moltbot status --dev``), and settles the profile once, just before
the command that runs: flags given before and after the command must agree, and a profile that does not
exist is refused except by the commands that create one.

A group's commands may be *lazy* (``MoltbotGroup(lazy={name: LazyCommand(...)})``): the module defining one
is imported only when that command is resolved, so ``moltbot --help`` lists every command from the
summaries in the table and ``moltbot status`` imports neither the gateway nor the agent code. A lazy
command gets ``install`` when it is loaded, exactly as an eager one got it when the tree was built; an
import error of its module (a missing dependency) propagates as it would from an eager import.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import attrs
import click

from .._util import importing
from ..config.profiles import apply_profile, profile_from_env, require_profile
from .errors import EXIT_INTERRUPTED, debug_from_env, describe

META = "moltbot.cli"
# Commands that may run on a profile that does not exist yet: they create it.
CREATES_PROFILE = {("setup",), ("migrate",), ("gateway",)}


def _state(ctx: click.Context) -> dict[str, Any]:
    return ctx.meta.setdefault(META, {"profiles": [], "debug": False, "settled": False})


def debug_enabled(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context(silent=True)
    return debug_from_env() or bool(ctx is not None and _state(ctx)["debug"])


def _record_dev(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx)["profiles"].append(("--dev", "dev"))


def _record_profile(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        _state(ctx)["profiles"].append((f"--profile {value}", value.lower()))


def _record_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx)["debug"] = True


def profile_options() -> list[click.Option]:
    """``--dev``, ``--profile NAME`` and ``--debug``, recorded in the context for ``settle_profile``."""
    return [
        click.Option(["--dev"], is_flag=True, expose_value=False, callback=_record_dev,
                     help="Use the isolated dev profile (~/.clawdbot-dev, port 19001)."),
        click.Option(["--profile"], metavar="NAME", expose_value=False, callback=_record_profile,
                     help="Use profile NAME (~/.clawdbot-NAME)."),
        click.Option(["--debug"], is_flag=True, expose_value=False, callback=_record_debug,
                     help="Show the traceback of a failure (also MOLTBOT_DEBUG=1)."),
    ]


def settle_profile(ctx: click.Context) -> None:
    """Apply the one profile the flags (or ``*_PROFILE``) name; refuse two, and a missing one for clients."""
    state = _state(ctx)
    if state["settled"]:
        return
    state["settled"] = True
    given = list(state["profiles"])
    if ctx.params.get("dev") is True:  # a command with its own --dev (gateway)
        given.append(("--dev", "dev"))
    names = {name for _flag, name in given}
    if len(names) > 1:
        raise click.UsageError(f"{' and '.join(sorted({flag for flag, _ in given}))} cannot be combined: "
                               "give one profile")
    name = next(iter(names), None) or profile_from_env(os.environ)
    if name:
        apply_profile(name, os.environ)
    if tuple(ctx.command_path.split()[1:]) not in CREATES_PROFILE:
        require_profile(os.environ)


def _settling(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        if not (isinstance(ctx.command, click.Group) and ctx.invoked_subcommand is not None):
            settle_profile(ctx)  # a ProfileError reaches MoltbotGroup.invoke: one line, exit 2
        return callback(*args, **kwargs)

    return run


def install(command: click.Command, *, root: bool = True) -> None:
    """Give ``command`` and every command below it the shared flags and the profile settling."""
    if not root:
        taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
        command.params.extend(option for option in profile_options() if option.opts[0] not in taken)
    if command.callback is not None and not getattr(command.callback, "_moltbot_settles", False):
        command.callback = _settling(command.callback)
        command.callback._moltbot_settles = True  # type: ignore[attr-defined]
    if isinstance(command, LazyGroup):
        command.installed = True  # and installs each lazy command when it loads it
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            install(sub, root=False)


@attrs.frozen
class LazyCommand:
    """A command a group imports only when it is resolved: ``module.attr``, listed in help as ``summary``.

    ``summary`` is the first paragraph of the command's help, kept here so that listing the commands imports
    none of them (``tests/cli/test_lazy.py`` checks it against the command's own help).
    """

    module: str
    attr: str
    summary: str

    def load(self) -> click.Command:
        with importing():
            command = getattr(importlib.import_module(self.module), self.attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.module}.{self.attr} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group whose commands in ``lazy`` are imported the first time they are resolved."""

    def __init__(self, *args: Any, lazy: dict[str, LazyCommand] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.installed = False  # set by ``install``: commands loaded later get it too

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            command = self.lazy[cmd_name].load()
            if self.installed:
                install(command, root=False)
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                             list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand:  # suggest the lazy names too ("did you mean ...")
            raise click.exceptions.NoSuchCommand(str(args[0]), possibilities=self.list_commands(ctx),
                                                 ctx=ctx) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from the summaries of the commands not loaded yet (importing none of them)."""
        rows: list[tuple[str, click.Command | str]] = []
        for name in self.list_commands(ctx):
            loaded = self.commands.get(name)
            if loaded is None:
                rows.append((name, self.lazy[name].summary))
            elif not loaded.hidden:
                rows.append((name, loaded))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, short_help(entry, limit)) for name, entry in rows])


def short_help(entry: click.Command | str, limit: int) -> str:
    """What ``--help`` lists for a command (or a lazy command's summary) in ``limit`` columns."""
    if isinstance(entry, click.Command):
        return entry.get_short_help_str(limit)
    return click.Command(None, help=entry).get_short_help_str(limit)


class MoltbotGroup(LazyGroup):
    """The root group: every command runs inside ``invoke``, where failures become short messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except click.Abort as exc:  # a prompt's Ctrl-C (click turns it into Abort); EOF stays click's
            if not isinstance(exc.__context__, KeyboardInterrupt):
                raise
            self._fail(ctx, exc.__context__)
        except BaseException as exc:  # noqa: BLE001 - the one place every failure is turned into words
            self._fail(ctx, exc)

    def _fail(self, ctx: click.Context, exc: BaseException) -> None:
        from .output import Output

        failure = describe(exc)
        if debug_enabled(ctx):
            traceback.print_exception(exc)
        if failure.exit_code == EXIT_INTERRUPTED:
            sys.stderr.write("\n")
        out = Output()
        out.error(failure.message)
        for hint in failure.hints:
            out.note(f"hint: {hint}", style="yellow")
        raise SystemExit(failure.exit_code)

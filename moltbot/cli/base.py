"""The ``moltbot`` group's behaviour shared by every command: failures, ``--debug`` and the profile flags.

``MoltbotGroup.invoke`` wraps the whole command tree, so a failure of any command (also those defined in
other modules) prints one or two lines and exits 1, 130 on Ctrl-C (``errors.py``); with ``--debug`` or
``MOLTBOT_DEBUG=1`` the traceback comes first. ``install`` gives every command ``--dev``, ``--profile`` and
``--debug`` after its own name too (``moltbot status --dev``), and settles the profile once, just before
the command that runs: flags given before and after the command must agree, and a profile that does not
exist is refused except by the commands that create one.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

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
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            install(sub, root=False)


class MoltbotGroup(click.Group):
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

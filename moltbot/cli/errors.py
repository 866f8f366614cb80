"""What the CLI prints when a command fails: one or two lines and an exit code, never a traceback.

Exit codes: 1 a failure, 2 a usage error (click's), 130 Ctrl-C (128 + SIGINT, as shells report it). The
traceback is for whoever debugs the CLI itself: ``--debug`` (anywhere on the line) or ``MOLTBOT_DEBUG=1``
prints it before the exit. ``describe`` maps the exceptions commands let escape to what failed, why and
the fix; an exception it does not know is still one line, with the hint to rerun with ``--debug``.
"""

from __future__ import annotations

import errno
import os
import sys

import attrs

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "MOLTBOT_DEBUG"
_MAX_DETAIL = 300


@attrs.frozen
class Failure:
    """What to print (``message`` after ``error: ``, then ``hints``) and the exit code."""

    message: str
    hints: tuple[str, ...] = ()
    exit_code: int = EXIT_FAILURE


def command(words: str) -> str:
    """``moltbot <words>`` as the user must type it for the active profile (``moltbot --dev gateway``)."""
    from ..config.profiles import cli_command

    return cli_command(words)


def debug_from_env(env: os._Environ | dict = os.environ) -> bool:
    return env.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, in order; ``[exc]`` for a plain one."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def _bounded(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL - 1] + "…"


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is, or a group holding, a ``KeyboardInterrupt`` (trio may deliver one inside a group)."""
    return any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves(exc))


def describe(exc: BaseException) -> Failure:
    """The failure a command let escape, as the person at the keyboard should read it."""
    found = leaves(exc)
    if interrupted(exc):
        return Failure("interrupted", exit_code=EXIT_INTERRUPTED)
    known = [failure for failure in map(_describe_one, found) if failure is not None]
    if known:
        return known[0]
    first = found[0]
    detail = f": {_bounded(str(first))}" if str(first) else ""
    return Failure(f"unexpected {type(first).__name__}{detail}",
                   (f"this is a bug in moltbot: rerun with --debug (or {DEBUG_ENV}=1) for the traceback and "
                    "report it",))


def _describe_one(exc: BaseException) -> Failure | None:
    from ..client import GatewayClosed
    from ..config.load import ConfigError
    from ..config.profiles import ProfileError
    from ..protocol import RemoteProtocolError

    if isinstance(exc, RemoteProtocolError):
        return Failure(f"gateway error: {exc.code}: {_bounded(exc.message)}")
    if isinstance(exc, GatewayClosed):
        return Failure(f"gateway unreachable: {_bounded(str(exc))}",
                       (f"is the gateway running? `{command('gateway status')}` checks",))
    trio = sys.modules.get("trio")  # not imported (``moltbot --help``): no trio exception can have escaped
    if trio is not None and isinstance(exc, trio.TooSlowError):
        return Failure("the gateway did not answer in time", (f"raise --timeout, or check `{command('gateway status')}`",))
    if isinstance(exc, ConfigError):
        return Failure(_bounded(str(exc)), (f"`{command('doctor')}` checks the config",))
    if isinstance(exc, ProfileError):
        return Failure(_bounded(str(exc)), exit_code=EXIT_USAGE)
    if type(exc).__name__ == "HandshakeError":  # trio-websocket: the port answered, but not as a WebSocket
        return Failure("the server did not accept a WebSocket handshake: is this a moltbot/OpenClaw gateway?")
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED):
        return Failure("connection refused: nothing listens there", ("is the gateway running?",))
    if isinstance(exc, PermissionError):
        return Failure(f"permission denied: {exc.filename or _bounded(str(exc))}")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return Failure(f"{exc.strerror or _bounded(str(exc))}{where}")
    return None

"""The ``moltbot`` command line run inside the test process, through click's ``CliRunner``.

A CLI started as a process costs a second or two (Python and every import, again); in-process it costs
what the command does. Each invocation sees exactly the environment it is given (``os.environ`` is
replaced for the call and put back after, so a profile the command applies does not leak into the next
test), reads ``input`` as its stdin (not a terminal, as a process with a pipe), and writes stdout and
stderr apart. The command runs in a worker thread with its own ``trio.run``, as ``moltbot`` does in its
own process, so a gateway served by the test's Trio loop answers it meanwhile.

What stays a process (``tests/cli19/helpers.py`` and friends): exit on a signal, a terminal (pty), a
gateway the CLI itself serves, ``python -m moltbot`` itself. Invocations are serialized (one process
environment), so a test that needs two CLIs at once starts processes.

The result is a ``subprocess.CompletedProcess`` (``returncode``, text ``stdout``/``stderr``) as the
process helpers return. An exception that escapes the command tree (what a process would print as a
traceback and exit 1 on) is written to ``stderr`` as Python would print it, and the code is 1: a test
that a failure is told without a traceback fails here as it does against a process.
"""

from __future__ import annotations

import os
import subprocess
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import trio
from click.testing import CliRunner

DEADLINE_S = 60
_ONE_AT_A_TIME = threading.Lock()


@contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _serves(args: tuple[str, ...]) -> bool:
    """Whether ``args`` run the gateway itself (``moltbot [--dev|--profile X] gateway [options]``)."""
    words = list(args)
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] == "--profile" else words[1:]
    return words[:1] == ["gateway"] and (len(words) == 1 or words[1].startswith("-"))


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def invoke_cli(
    env: dict[str, str], *args: str, input: str | bytes | None = None
) -> subprocess.CompletedProcess:
    """``moltbot *args`` in this process (blocking: call it from a thread, or from a test without a loop)."""
    from moltbot.cli import cli

    # The gateway command installs the process's logging and signal handlers and serves until a signal.
    assert not _serves(args), f"`moltbot {' '.join(args)}` serves a gateway: start it as a process"

    def invoke():
        with _ONE_AT_A_TIME, _environ(env):
            return CliRunner().invoke(
                cli, list(args), input=input, prog_name="moltbot", catch_exceptions=True
            )

    # Called (blocking, as subprocess.run) from a Trio test: the command's own trio.run needs another thread.
    if _in_trio():
        done: list = []
        worker = threading.Thread(target=lambda: done.append(invoke()), daemon=True)
        worker.start()
        worker.join(DEADLINE_S)
        assert done, f"`moltbot {' '.join(args)}` did not finish in {DEADLINE_S} s"
        result = done[0]
    else:
        result = invoke()
    stderr = result.stderr
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
        code = 1
    return subprocess.CompletedProcess(["moltbot", *args], code, result.stdout, stderr)


async def run_cli_inprocess(
    env: dict[str, str], *args: str, input: str | bytes | None = None
) -> subprocess.CompletedProcess:
    """``invoke_cli`` from a Trio test: in a worker thread, so the test's gateway keeps serving."""
    with trio.fail_after(DEADLINE_S):
        return await trio.to_thread.run_sync(
            lambda: invoke_cli(env, *args, input=input), abandon_on_cancel=True
        )

"""Run the `moltbot` command line: in this process (``run_moltbot``, click's runner, for what a command
does) or as a real process (``start_gateway``, ``run_moltbot_process``: a gateway it serves, exit codes of
the process itself)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from tests.cli_inprocess import invoke_cli

MOLTBOT = [sys.executable, "-m", "moltbot"]


def restore_sigint() -> None:
    """``preexec_fn`` for a CLI process a test interrupts: SIGINT back to its default in the child.

    A shell without job control starts a background job (``pytest … &``, a CI step's ``cmd &``) with SIGINT
    ignored, and the child inherits that; Python then installs no KeyboardInterrupt handler, so the SIGINT
    the test sends is dropped and a follower that should exit 130 runs on until the test's deadline. The CLI
    keeps the shell's choice (as ``tail -f`` does); the test is the one that means Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def spawned_as_a_background_job() -> Iterator[None]:
    """Processes started inside inherit SIGINT ignored, as ``cmd &`` from a shell without job control."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


async def start_gateway(env: dict, *args: str, unconfigured: bool = True) -> tuple[trio.Process, str, bytearray]:
    """Start `moltbot gateway --port 0 ...`; return the process, its URL and what it printed so far."""
    flags = ["--allow-unconfigured"] if unconfigured else []
    process = await trio.lowlevel.open_process([*MOLTBOT, "gateway", "--port", "0", *flags, *args], env=env,
                                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    seen = bytearray()
    with trio.fail_after(15):
        while not (match := re.search(rb"listening on (ws://127\.0\.0\.1:\d+)", seen)):
            chunk = await process.stderr.receive_some()
            assert chunk, f"gateway exited early: {seen.decode()}"
            seen += chunk
    return process, match.group(1).decode(), seen


def run_moltbot(env: dict, *args: str) -> subprocess.CompletedProcess:
    """``moltbot *args`` in this process (``tests/cli_inprocess.py``); blocking, as ``subprocess.run``."""
    return invoke_cli(env, *args)


def run_moltbot_process(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MOLTBOT, *args], env=env, capture_output=True, text=True, timeout=30)



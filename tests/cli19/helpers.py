"""Run the ``moltbot`` CLI and read what it printed: in this process (``run_cli``, click's runner: the
command's own behaviour, in milliseconds) or as a real process as a user would (``run_cli_process``,
``interrupt_after``: exit codes of the process itself, signals; a second or more each)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import trio

from tests.cli.helpers import restore_sigint, spawned_as_a_background_job
from tests.cli_inprocess import run_cli_inprocess

MOLTBOT = [sys.executable, "-m", "moltbot"]
DEADLINE_S = 60  # generous: a busy 2-core machine starts Python slowly


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh user: HOME in the test's directory, no CLAWDBOT_/MOLTBOT_/OPENCLAW_ variables."""
    home.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLAWDBOT_", "MOLTBOT_", "OPENCLAW_"))}
    env.update(HOME=str(home), NO_COLOR="1", **extra)
    return env


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``moltbot *args`` in this process (``tests/cli_inprocess.py``)."""
    return await run_cli_inprocess(env, *args)


async def run_cli_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m moltbot *args`` as a process."""
    with trio.fail_after(DEADLINE_S):
        result = await trio.run_process([*MOLTBOT, *args], env=env, capture_stdout=True, capture_stderr=True,
                                        check=False, stdin=subprocess.DEVNULL)
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


def short_failure(result: subprocess.CompletedProcess, *, lines: int = 3) -> bool:
    """A failure told in a few lines (the error, a hint or two), no traceback."""
    text = result.stderr.strip().splitlines()
    return "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr and 0 < len(text) <= lines


async def interrupt_after(env: dict[str, str], args: list[str], ready: bytes, *,
                          stream: str = "stderr", background: bool = False) -> tuple[int, str, str]:
    """Start the CLI, wait until ``ready`` appears on ``stream``, send SIGINT; return (code, stdout, stderr).

    The child gets SIGINT's default whatever this process ignores (``restore_sigint``); ``background``
    starts it the way a background job would be, to prove that."""
    with spawned_as_a_background_job() if background else contextlib.nullcontext():
        process = await trio.lowlevel.open_process([*MOLTBOT, *args], env=env, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   preexec_fn=restore_sigint)
    seen = {"stdout": bytearray(), "stderr": bytearray()}
    sent = []
    try:
        with trio.fail_after(DEADLINE_S):
            async with trio.open_nursery() as nursery:
                async def read(name: str, pipe) -> None:
                    while chunk := await pipe.receive_some():
                        seen[name] += chunk
                        if name == stream and ready in seen[name] and not sent:
                            sent.append(True)
                            process.send_signal(signal.SIGINT)

                nursery.start_soon(read, "stdout", process.stdout)
                nursery.start_soon(read, "stderr", process.stderr)
                code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return code, seen["stdout"].decode(), seen["stderr"].decode()

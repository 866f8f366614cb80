"""The real ``moltbot`` CLI as a new user meets it: stdin fed to it, or a terminal (a pty) to answer prompts on."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from moltbot.config.load import parse_json5
from tests.cli19.helpers import DEADLINE_S, MOLTBOT
from tests.cli_inprocess import run_cli_inprocess

TELEGRAM = "123456789:AAF" + "x7Yq2Lr9Kd4Mn8Tb6Vc3Wz1" + "Hj5Gs0Pe"
API_KEY = "sk-test-9f8e7d6c5b4a3f2e1d0c"


async def run_with_stdin(env: dict[str, str], stdin: bytes, *args: str) -> subprocess.CompletedProcess:
    """``moltbot *args`` in this process with ``stdin`` piped in (not a terminal), as ``run_cli``."""
    return await run_cli_inprocess(env, *args, input=stdin)


async def run_process_with_stdin(env: dict[str, str], stdin: bytes, *args: str) -> subprocess.CompletedProcess:
    with trio.fail_after(DEADLINE_S):
        result = await trio.run_process([*MOLTBOT, *args], env=env, stdin=stdin, capture_stdout=True,
                                        capture_stderr=True, check=False)
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


def read_config(path: Path) -> dict[str, Any]:
    return parse_json5(path.read_text("utf-8"))


def _controlling_terminal() -> None:  # in the child, after setsid: the pty on fd 0 becomes /dev/tty
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A CLI process on a pty as its controlling terminal (so getpass's hidden input is really hidden), and
    everything it wrote there."""

    def __init__(self, process: trio.Process, stream: trio.lowlevel.FdStream) -> None:
        self.process, self.stream = process, stream
        self.seen = bytearray()
        self._offset = 0

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace")

    async def _read(self) -> bool:
        try:
            chunk = await self.stream.receive_some()
        except trio.BrokenResourceError as exc:  # EIO: the child closed its side of the pty
            if not isinstance(exc.__cause__, OSError) or exc.__cause__.errno != errno.EIO:
                raise
            return False
        self.seen += chunk
        return bool(chunk)

    async def expect(self, text: str) -> None:
        """Read until ``text`` appears after the last thing expected."""
        while (found := self.seen.find(text.encode(), self._offset)) < 0:
            assert await self._read(), f"the process ended before printing {text!r}:\n{self.text}"
        self._offset = found + len(text)

    async def answer(self, prompt: str, reply: str) -> None:
        await self.expect(prompt)
        await self.stream.send_all(reply.encode() + b"\r")

    async def finish(self) -> int:
        while await self._read():
            pass
        return await self.process.wait()


@asynccontextmanager
async def open_terminal(env: dict[str, str], *args: str) -> AsyncIterator[Terminal]:
    """``moltbot *args`` on a fresh pty; killed (if still running) and the pty closed at the end."""
    master, slave = os.openpty()
    try:
        process = await trio.lowlevel.open_process([*MOLTBOT, *args], env=env, stdin=slave, stdout=slave,
                                                   stderr=slave, start_new_session=True,
                                                   preexec_fn=_controlling_terminal)
    finally:
        os.close(slave)
    terminal = Terminal(process, trio.lowlevel.FdStream(master))
    try:
        with trio.fail_after(DEADLINE_S):
            yield terminal
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await terminal.stream.aclose()

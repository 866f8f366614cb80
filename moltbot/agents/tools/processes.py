"""Commands started by the ``exec`` tool, foreground or background, and the ``process`` tool's view of them.

Theory of operation. ``ProcessTable.start`` opens the process (its own session, so a kill reaches its
children too) and starts one supervising task in the agent runtime's nursery (``spawn``): it reads the
merged stdout/stderr into a bounded buffer (the head and the most recent output are kept, the middle is
counted), enforces the timeout, and marks the session done. ``exec`` waits on ``done`` for ``yieldMs``; a
command still running then stays in the table as a background session the model polls, reads, writes to
or kills with ``process``. When the runtime's nursery is cancelled (stop, restart) every process is
killed; finished sessions are forgotten after ``KEEP_FINISHED`` seconds or past ``MAX_SESSIONS``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

MAX_SESSIONS = 64
KEEP_FINISHED = 1800.0
READ_CHUNK = 65536


@attrs.define(eq=False)
class ProcessSession:
    id: str
    command: str
    cwd: str
    agent_id: str
    session_key: str | None
    limit: int
    process: trio.Process | None = None
    started_at: int = attrs.field(factory=lambda: int(time.time() * 1000))
    head: str = ""
    tail: str = ""
    total_chars: int = 0
    exit_code: int | None = None
    timed_out: bool = False
    killed: bool = False
    done: trio.Event = attrs.field(factory=trio.Event)
    finished_clock: float | None = None
    polled: int = 0  # total_chars at the last poll
    ended_at: int | None = None

    def append(self, text: str) -> None:
        self.total_chars += len(text)
        if len(self.head) < self.limit // 2:
            room = self.limit // 2 - len(self.head)
            self.head, text = self.head + text[:room], text[room:]
        self.tail = (self.tail + text)[-(self.limit - self.limit // 2):]

    def output(self) -> str:
        dropped = self.total_chars - len(self.head) - len(self.tail)
        if dropped > 0:
            return f"{self.head}\n[... {dropped} characters of output left out ...]\n{self.tail}"
        return self.head + self.tail

    @property
    def status(self) -> str:
        if not self.done.is_set():
            return "running"
        return "completed" if self.exit_code == 0 and not self.timed_out else "failed"

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sessionId": self.id, "status": self.status, "command": self.command[:200],
                               "startedAt": self.started_at}
        if self.process is not None:
            out["pid"] = self.process.pid
        if self.done.is_set():
            out.update(exitCode=self.exit_code, endedAt=self.ended_at, timedOut=self.timed_out)
        return out


class ProcessTable:
    def __init__(self, spawn: Callable[[Callable[[], Any]], None]) -> None:
        self._spawn = spawn
        self.sessions: dict[str, ProcessSession] = {}

    def sweep(self) -> None:
        now = trio.current_time()
        for key in [k for k, s in self.sessions.items()
                    if s.finished_clock is not None and now - s.finished_clock > KEEP_FINISHED]:
            del self.sessions[key]
        finished = [k for k, s in self.sessions.items() if s.done.is_set()]
        while len(self.sessions) >= MAX_SESSIONS and finished:
            del self.sessions[finished.pop(0)]

    async def start(self, command: str, *, cwd: Path, env: Mapping[str, str], kill_after: float, limit: int,
                    agent_id: str, session_key: str | None, argv: list[str] | None = None) -> ProcessSession:
        """Start ``command`` (``/bin/sh -c``; ``argv`` instead when given: the sandbox's wrapper of it)."""
        self.sweep()
        if len(self.sessions) >= MAX_SESSIONS:
            raise OSError(f"too many processes running (limit {MAX_SESSIONS}); kill some with the process tool")
        session = ProcessSession(uuid.uuid4().hex[:8], command, str(cwd), agent_id, session_key, limit)
        session.process = await trio.lowlevel.open_process(
            argv or ["/bin/sh", "-c", command], cwd=str(cwd), env=dict(env), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.sessions[session.id] = session
        self._spawn(lambda: self._supervise(session, kill_after))
        return session

    async def _supervise(self, session: ProcessSession, kill_after: float) -> None:
        process = session.process
        assert process is not None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read, session)
                with trio.move_on_after(kill_after) as scope:
                    await process.wait()
                if scope.cancelled_caught:
                    session.timed_out = True
                    kill(session)
                    await process.wait()
        finally:
            if process.returncode is None:  # cancelled (the runtime stops): never leave it running
                kill(session)
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await process.wait()
            session.exit_code = process.returncode
            session.ended_at = int(time.time() * 1000)
            session.finished_clock = trio.current_time()
            session.done.set()

    async def _read(self, session: ProcessSession) -> None:
        stream = session.process.stdout  # type: ignore[union-attr]
        assert stream is not None
        decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                data = await stream.receive_some(READ_CHUNK)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                break
            if not data:
                break
            session.append(decoder.decode(data))
        session.append(decoder.decode(b"", final=True))


def kill(session: ProcessSession) -> None:
    process = session.process
    if process is None or process.returncode is not None:
        return
    session.killed = True
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()

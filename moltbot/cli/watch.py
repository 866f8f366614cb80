"""``moltbot gateway --watch``: run the gateway as a child process and restart it when a package file changes.

For developers of the gateway itself (the original's ``pnpm gateway:watch``). Theory of operation: this
process never imports the gateway; it runs ``python -m moltbot gateway <the same arguments, without
--watch>`` as a child and watches the ``moltbot`` package folder (plus every ``--watch-path``) with
watchfiles. Changes are taken in bursts: watchfiles yields once no further change came for
``STEP_MS`` (a checkout or a save-all of many files is one burst), at most ``DEBOUNCE_MS`` after the first,
so a burst restarts the child once. A restart says what changed, stops the child with SIGTERM (its
graceful stop: clients get ``shutdown`` and close 1012, then reconnect), waits for it to exit (SIGKILL after
``STOP_SECONDS``) and starts a new one. The port is kept: once the first child said which port it
listens on, the next ones get ``--port`` with it (so ``--port 0`` picks a port once). A child that exits on
its own (a syntax error in a file just saved) is reported and started again at the next change.

The child's stderr passes through this process (it is read to learn the port), unchanged; stdin, stdout
are the child's own. SIGINT/SIGTERM stop the child the same way and end the watch.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import trio
import watchfiles

STEP_MS = 300
DEBOUNCE_MS = 1600
STOP_SECONDS = 10.0
_LISTENING = re.compile(rb"listening on wss?://(?:\[[^\]]+\]|[^:\s]+):(\d+)")
_WATCH_FLAGS = ("--watch",)
_WATCH_OPTIONS = ("--watch-path",)


class _SourceFilter(watchfiles.DefaultFilter):
    """Package files: not bytecode, editor swap or backup files (watchfiles' default ignores VCS dirs)."""

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        name = os.path.basename(path)
        if name.endswith((".pyc", ".pyo", "~", ".swp", ".swx", ".tmp")) or name.startswith(".#"):
            return False
        return super().__call__(change, path)


def child_arguments(argv: list[str], port: int | None) -> list[str]:
    """The command line without ``--watch``/``--watch-path``, and with ``--port`` pinned once known."""
    out: list[str] = []
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in _WATCH_FLAGS or any(arg.startswith(f"{o}=") for o in _WATCH_OPTIONS):
            continue
        if arg in _WATCH_OPTIONS:
            skip = True
            continue
        if port is not None and (arg == "--port" or arg.startswith("--port=")):
            skip = arg == "--port" and index + 1 < len(argv)
            continue
        out.append(arg)
    if port is not None:
        out += ["--port", str(port)]
    return out


def describe(changes: set[tuple[watchfiles.Change, str]], roots: list[Path]) -> str:
    """``moltbot/gateway/app.py (modified), …`` (paths relative to the watched root), at most eight named."""
    names = []
    for change, path in sorted(changes, key=lambda c: c[1]):
        shown = path
        for root in roots:
            try:
                shown = str(Path(path).relative_to(root.parent))
                break
            except ValueError:
                continue
        names.append(f"{shown} ({change.name})")
    more = f", and {len(names) - 8} more" if len(names) > 8 else ""
    return ", ".join(names[:8]) + more


class Watcher:
    """One watch session: the child process, the port it serves, the restart count."""

    def __init__(self, argv: list[str], roots: list[Path]) -> None:
        self.argv = argv
        self.roots = roots
        self.port: int | None = None
        self.restarts = 0
        self._stderr = trio.lowlevel.FdStream(os.dup(2))

    async def close(self) -> None:
        """Give our stderr its blocking mode back (``FdStream`` shares the file description)."""
        await self._stderr.aclose()

    async def _say(self, line: str) -> None:
        await self._stderr.send_all(f"gateway --watch: {line}\n".encode())

    async def _relay(self, stream: trio.abc.ReceiveStream) -> None:
        """Copy the child's stderr to ours; learn its port from the "listening on" line."""
        seen = b""
        async for chunk in stream:
            await self._stderr.send_all(chunk)
            if self.port is None:
                seen = (seen + chunk)[-4096:]
                match = _LISTENING.search(seen)
                if match:
                    self.port = int(match.group(1))

    async def _start(self, nursery: trio.Nursery) -> trio.Process:
        command = [sys.executable, "-m", "moltbot", *child_arguments(self.argv, self.port)]
        process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE)
        assert process.stderr is not None  # stderr=PIPE
        nursery.start_soon(self._relay, process.stderr)
        return process

    async def _stop(self, process: trio.Process) -> None:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with trio.move_on_after(STOP_SECONDS):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()

    async def _report_exit(self, process: trio.Process) -> None:
        code = await process.wait()
        await self._say(f"the gateway exited (code {code}); it starts again at the next change")

    async def serve(self) -> int:
        """Watch and restart until SIGINT/SIGTERM; the exit code."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                stop = trio.Event()

                async def wait_signal() -> None:
                    async for _ in signals:
                        stop.set()
                        return

                nursery.start_soon(wait_signal)
                shown = ", ".join(str(r) for r in self.roots)
                await self._say(f"watching {shown}; restarts on a change")
                process = await self._start(nursery)
                exits = trio.CancelScope()
                nursery.start_soon(self._watch_exit, exits, process)
                async for changes in watchfiles.awatch(*self.roots, watch_filter=_SourceFilter(), step=STEP_MS,
                                                       debounce=DEBOUNCE_MS, stop_event=stop, rust_timeout=1000,
                                                       yield_on_timeout=False):
                    self.restarts += 1
                    await self._say(f"restart {self.restarts}: {describe(changes, self.roots)} changed")
                    exits.cancel()
                    await self._stop(process)
                    process = await self._start(nursery)
                    exits = trio.CancelScope()
                    nursery.start_soon(self._watch_exit, exits, process)
                exits.cancel()
                await self._stop(process)
                nursery.cancel_scope.cancel()
        return 0

    async def _watch_exit(self, scope: trio.CancelScope, process: trio.Process) -> None:
        with scope:
            await self._report_exit(process)


def run_watch(argv: list[str], extra_paths: tuple[str, ...]) -> int:
    """``moltbot gateway --watch``: ``argv`` is the command line after ``moltbot`` (``gateway …``)."""
    import moltbot

    roots = [Path(moltbot.__file__).resolve().parent, *(Path(p).resolve() for p in extra_paths)]
    watcher = Watcher(argv, roots)

    async def main() -> int:
        try:
            return await watcher.serve()
        finally:
            await watcher.close()

    return trio.run(main)

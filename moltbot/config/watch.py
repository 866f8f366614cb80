"""Watch the config file and call back once per burst of saves (trailing debounce on the trio clock).

The directory is watched (not the file), so editors that save by rename, or truncate then write, are
seen; repeated saves within the debounce window cause one reload. A directory removed while watched (a
removed state dir) is made again (0700) and watched afresh: a watch cannot see its directory come back.

On Linux the watch is an inotify descriptor read on the Trio thread when the kernel says it is readable
(``inotify_simple``, awaited with ``trio.lowlevel.wait_readable``): an idle gateway is not woken at all by its config watch. Elsewhere (or
when no inotify instance can be had: ``fs.inotify.max_user_instances``) watchfiles runs its Rust watcher
in a worker thread through anyio (``trio.to_thread`` under trio), polling every ``FALLBACK_STEP_MS``; it is
told to stop before the task is cancelled so shutdown does not wait for the thread's timeout.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import trio

from ..store.atomic import ensure_dir

log = logging.getLogger("moltbot.config")

FALLBACK_STEP_MS = 200  # watchfiles: how often its thread looks for changes (and for the stop request)

# inotify(7): what a change to a file in the directory, or to the directory itself, raises.
_IN_FILE_EVENTS = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200  # MODIFY ATTRIB CLOSE_WRITE MOVED_* CREATE DELETE
_IN_DIR_GONE = 0x400 | 0x800 | 0x2000 | 0x8000  # DELETE_SELF MOVE_SELF UNMOUNT IGNORED
_IN_Q_OVERFLOW = 0x4000
_IN_ONLYDIR = 0x01000000


class _Inotify:
    """One inotify descriptor (``inotify_simple``, non-blocking) watching one directory, read on the Trio
    thread when the kernel says it is readable."""

    def __init__(self, directory: Path) -> None:
        import inotify_simple

        if getattr(inotify_simple, "_libc", True) is None:
            # inotify_simple finds libc with ctypes.util.find_library, which runs ``ldconfig -p`` in a
            # subprocess (a fork of the gateway at each start); the process's own symbols include libc's.
            import ctypes

            inotify_simple._libc = ctypes.CDLL(None, use_errno=True)
        self._inotify = inotify_simple.INotify(nonblocking=True)
        try:
            self._inotify.add_watch(directory, _IN_FILE_EVENTS | _IN_DIR_GONE | _IN_ONLYDIR)
        except BaseException:
            self._inotify.close()
            raise
        self.fd = self._inotify.fileno()

    async def read(self) -> list[tuple[int, str]]:
        """The next batch of events: (mask, name in the directory, "" for the directory itself)."""
        while True:
            await trio.lowlevel.wait_readable(self.fd)
            try:
                events = self._inotify.read(timeout=0)
            except BlockingIOError:
                continue
            if events:
                return [(event.mask, event.name) for event in events]

    def close(self) -> None:
        trio.lowlevel.notify_closing(self.fd)
        self._inotify.close()


def _open_inotify(directory: Path) -> _Inotify | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return _Inotify(directory)
    except (OSError, ImportError) as exc:  # no instance left (fs.inotify.max_user_instances)
        log.info("config watch: inotify unavailable (%s); polling with watchfiles instead", exc)
        return None


async def serve_config_watch(path: Path, on_change: Callable[[], Awaitable[object]], *,
                             debounce_ms: Callable[[], int], task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Call ``on_change()`` ``debounce_ms()`` after the last change to ``path`` (absolute); never returns.

    Reports ready once the watch is in place, so a change made after ``nursery.start`` is seen.

    ``debounce_ms`` is read at each change, so a new ``gateway.reload.debounceMs`` applies at once.
    """
    directory = path.parent
    await trio.to_thread.run_sync(ensure_dir, directory)
    stop: Any = None  # the fallback's anyio.Event, while a watchfiles thread runs
    dirty = trio.Event()

    def is_config(changed: str) -> bool:
        return Path(changed).name == path.name or Path(changed) == directory

    async def watch_inotify(watch: _Inotify, started: Callable[[], None]) -> None:
        """Read the directory's events until it is removed (its watch cannot see it come back)."""
        try:
            started()
            while True:
                events = await watch.read()
                if any(name == path.name or mask & (_IN_DIR_GONE | _IN_Q_OVERFLOW) for mask, name in events):
                    dirty.set()
                if any(mask & _IN_DIR_GONE for mask, _ in events):
                    return
        finally:
            watch.close()

    async def watch_polling(started: Callable[[], None]) -> None:
        """watchfiles until ``stop`` is set or the directory is removed."""
        nonlocal stop
        import anyio
        import watchfiles

        stop = anyio.Event()
        watcher = watchfiles.awatch(directory, watch_filter=lambda _, changed: is_config(changed),
                                    step=FALLBACK_STEP_MS, rust_timeout=5000, stop_event=stop, recursive=False,
                                    yield_on_timeout=True)
        try:
            async with aclosing(watcher):
                async for changes in watcher:
                    started()  # the first (timeout) yield means the watcher thread is running
                    if changes:
                        dirty.set()
                    if any(Path(changed) == directory for _, changed in changes):
                        return
        finally:
            stop.set()  # end the watcher's thread

    async def watch(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        ready = False

        def started() -> None:
            nonlocal ready
            if not ready:
                ready = True
                task_status.started()

        while True:
            inotify = _open_inotify(directory)
            if inotify is not None:
                await watch_inotify(inotify, started)
            else:
                await watch_polling(started)
            await trio.to_thread.run_sync(ensure_dir, directory)
            log.error("config directory %s was removed while the gateway runs; made it again (0700) and "
                      "watching it; the gateway keeps its last good config until %s is written again",
                      directory, path.name)

    async def settle() -> None:
        nonlocal dirty
        while True:
            await dirty.wait()
            while True:  # trailing debounce: every further change restarts the quiet window
                dirty = trio.Event()
                with trio.move_on_after(debounce_ms() / 1000) as quiet:
                    await dirty.wait()
                if quiet.cancelled_caught:
                    break
            try:
                await on_change()
            except Exception:
                log.exception("config reload failed")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(settle)
            await nursery.start(watch)
            task_status.started()
    finally:
        if stop is not None:
            stop.set()

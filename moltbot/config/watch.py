"""Watch the config file and call back once per burst of saves (trailing debounce on the trio clock).

The directory is watched (not the file), so editors that save by rename, or truncate then write, are
seen; repeated saves within the debounce window cause one reload. A directory removed while watched (a
removed state dir) is made again (0700) and watched afresh: a watch cannot see its directory come back.
watchfiles runs its Rust watcher in a worker thread through anyio (which uses ``trio.to_thread`` under
trio); the watcher is told to stop before the task is cancelled so shutdown does not wait for the
thread's timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path

import anyio
import trio
import watchfiles

from ..store.atomic import ensure_dir

log = logging.getLogger("moltbot.config")


async def serve_config_watch(path: Path, on_change: Callable[[], Awaitable[None]], *,
                             debounce_ms: Callable[[], int], task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Call ``on_change()`` ``debounce_ms()`` after the last change to ``path`` (absolute); never returns.

    Reports ready once the watcher thread runs, so a change made after ``nursery.start`` is seen.

    ``debounce_ms`` is read at each change, so a new ``gateway.reload.debounceMs`` applies at once.
    """
    directory = path.parent
    await trio.to_thread.run_sync(ensure_dir, directory)
    stop = anyio.Event()
    dirty = trio.Event()

    def is_config(_: watchfiles.Change, changed: str) -> bool:
        return Path(changed).name == path.name or Path(changed) == directory

    async def watch_once(started: Callable[[], None]) -> None:
        """Watch until ``stop`` is set or the directory is removed (its watch cannot see it come back)."""
        watcher = watchfiles.awatch(directory, watch_filter=is_config, step=10, rust_timeout=200,
                                    stop_event=stop, recursive=False, yield_on_timeout=True)
        async with aclosing(watcher):
            async for changes in watcher:
                started()  # the first (timeout) yield means the watcher thread is running
                if changes:
                    dirty.set()
                if any(Path(changed) == directory for _, changed in changes):
                    return

    async def watch(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        nonlocal stop
        ready = False

        def started() -> None:
            nonlocal ready
            if not ready:
                ready = True
                task_status.started()

        while True:
            await watch_once(started)
            if stop.is_set():
                return
            stop.set()  # end the old watcher's thread; a new one watches the directory made again
            stop = anyio.Event()
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
        stop.set()

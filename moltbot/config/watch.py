"""Watch the config file and call back once per burst of saves (trailing debounce on the trio clock).

The directory is watched (not the file), so editors that save by rename, or truncate then write, are
seen; repeated saves within the debounce window cause one reload. watchfiles runs its Rust watcher in a
worker thread through anyio (which uses ``trio.to_thread`` under trio); the watcher is told to stop
before the task is cancelled so shutdown does not wait for the thread's timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import trio
import watchfiles

log = logging.getLogger("moltbot.config")


async def serve_config_watch(path: Path, on_change: Callable[[], Awaitable[None]], *,
                             debounce_ms: Callable[[], int], task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Call ``on_change()`` ``debounce_ms()`` after the last change to ``path`` (absolute); never returns.

    Reports ready once the watcher thread runs, so a change made after ``nursery.start`` is seen.

    ``debounce_ms`` is read at each change, so a new ``gateway.reload.debounceMs`` applies at once.
    """
    await trio.Path(path.parent).mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = anyio.Event()
    dirty = trio.Event()

    def is_config(_: watchfiles.Change, changed: str) -> bool:
        return Path(changed).name == path.name

    async def watch(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        watcher = watchfiles.awatch(path.parent, watch_filter=is_config, step=10, rust_timeout=200,
                                    stop_event=stop, recursive=False, yield_on_timeout=True)
        first = True
        async for changes in watcher:
            if first:  # the first (timeout) yield means the watcher thread is running
                first = False
                task_status.started()
            if changes:
                dirty.set()

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

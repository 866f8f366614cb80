"""The canvas host as a child of the gateway's root nursery, rebuilt only when its settings change.

The Gateway calls ``apply`` at start and on every in-process restart (with the new config) and ``stop``
when it stops. A canvas host that cannot start is logged and kept in ``last_error``; the gateway itself
runs on. A busy port is retried in the background (1, 2, 4 … 30 s: the other process may be a gateway
that is still stopping); an unusable root waits for the next restart. ``url`` is the bound URL
while it runs (``hello-ok.canvasHostUrl`` is built from its port).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping

import attrs
import trio

from ..config.model import Config
from ..config.ports import canvas_host_port
from ..gateway.origin import policy_config
from .files import resolve_root
from .server import CanvasSettings, CanvasStartError, serve_canvas

log = logging.getLogger("moltbot.canvas")

STOP_GRACE_SECONDS = 2.0
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then every 30 s
MOUNT_PATH = "/__moltbot__/canvas/"


def canvas_settings(config: Config, env: Mapping[str, str], *, gateway_port: int, host: str) -> CanvasSettings | None:
    """What the canvas host should run with, or None when it is disabled (by config or by
    ``CLAWDBOT_SKIP_CANVAS_HOST=1``). ``gateway_port`` is the configured one (0 gives 0)."""
    section = config.canvas_host
    if not section.enabled or env.get("CLAWDBOT_SKIP_CANVAS_HOST") == "1":
        return None
    return CanvasSettings(host=host, port=canvas_host_port(gateway_port, section.port),
                          root=resolve_root(section.root, env), live_reload=section.live_reload,
                          policy=policy_config(config.gateway))


class CanvasHost:
    def __init__(self) -> None:
        self.settings: CanvasSettings | None = None  # as requested (port 0 stays 0)
        self.url: str | None = None
        self.last_error: str | None = None
        self._bound_port: int | None = None
        self._stop = trio.Event()
        self._done: trio.Event | None = None
        self._scope = trio.CancelScope()
        self._retry_scope = trio.CancelScope()
        self._retry_done: trio.Event | None = None
        self._started = trio.Event()

    @property
    def retrying(self) -> bool:
        return self._retry_done is not None

    def next_start(self) -> trio.Event:
        """An event set the next time the canvas server starts (for tests and tools)."""
        return self._started

    @property
    def port(self) -> int | None:
        return self._bound_port if self.url is not None else None

    @property
    def host(self) -> str | None:
        return self.settings.host if self.settings is not None and self.url is not None else None

    async def apply(self, nursery: trio.Nursery, settings: CanvasSettings | None) -> None:
        """Run with ``settings`` (None: not at all); a running host with the same settings is kept."""
        if settings == self.settings and (self.url is not None or settings is None or self.retrying):
            return
        previous_port = self._bound_port if self.settings is not None and self.settings.port == 0 else None
        await self.stop()
        self.settings, self.last_error = settings, None
        if settings is None:
            return
        # "Any free port" is resolved once: a rebuild tries the port it had, like the gateway's listener.
        error: CanvasStartError | None = None
        for port in dict.fromkeys(p for p in (previous_port if settings.port == 0 else None, settings.port)
                                  if p is not None):
            try:
                await self._start(nursery, attrs.evolve(settings, port=port))
                return
            except CanvasStartError as exc:
                error, self.last_error = exc, str(exc)
        assert error is not None
        log.error("canvas host not started: %s (the gateway runs without it; %s)", error,
                  "retrying in the background" if error.retryable else "fix canvasHost and restart")
        if error.retryable:
            self._start_retry(nursery, settings)

    def _start_retry(self, nursery: trio.Nursery, settings: CanvasSettings) -> None:
        scope, done = trio.CancelScope(), trio.Event()
        self._retry_scope, self._retry_done = scope, done

        async def retry() -> None:
            try:
                with scope:
                    for delay in itertools.chain(RETRY_DELAYS, itertools.repeat(RETRY_DELAYS[-1])):
                        await trio.sleep(delay)
                        try:
                            await self._start(nursery, settings)
                        except CanvasStartError as exc:
                            self.last_error = str(exc)
                            continue
                        self.last_error = None
                        return
            finally:
                if self._retry_done is done:
                    self._retry_done = None
                done.set()

        nursery.start_soon(retry)

    async def _cancel_retry(self) -> None:
        done = self._retry_done
        if done is not None:
            self._retry_scope.cancel()
            await done.wait()

    async def _start(self, nursery: trio.Nursery, settings: CanvasSettings) -> None:
        stop, done, scope = trio.Event(), trio.Event(), trio.CancelScope()
        started = False

        def mark_started() -> None:
            nonlocal started
            started = True

        async def run(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await serve_canvas(settings, stop, task_status=_Reported(task_status, mark_started))
            except Exception as exc:
                if not started:
                    raise
                # A crash after start must not take the gateway down: say so, serve on without it.
                self.last_error = f"canvas host failed: {exc!r}"
                log.exception("canvas host failed; the gateway runs without it until the next restart")
            finally:
                if started and self._done is done:
                    self.url = None
                done.set()

        url = await nursery.start(run)
        self._stop, self._done, self._scope = stop, done, scope
        self.url = url
        self._bound_port = int(url.rsplit(":", 1)[1])
        self._started.set()
        self._started = trio.Event()
        log.info("canvas host on %s%s (root %s%s)", url, MOUNT_PATH, settings.root,
                 "" if settings.live_reload else ", live reload off")

    async def stop(self) -> None:
        """Stop serving (live-reload pages are closed 1001) and wait until the port is released."""
        await self._cancel_retry()
        done = self._done
        if done is None:
            return
        self._stop.set()
        with trio.move_on_after(STOP_GRACE_SECONDS):
            await done.wait()
        self._scope.cancel(reason="canvas host stop deadline")
        await done.wait()
        self._done, self.url = None, None


class _Reported:
    """A task_status that runs a callback just before reporting (so the flag is set before ``start`` returns)."""

    def __init__(self, task_status: trio.TaskStatus, before: Callable[[], None]) -> None:
        self._task_status = task_status
        self._before = before

    def started(self, value: object = None) -> None:
        self._before()
        self._task_status.started(value)

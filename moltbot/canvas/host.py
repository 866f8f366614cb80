"""The canvas host as a child of the gateway's root nursery, rebuilt only when its settings change.

The Gateway calls ``apply`` at start and on every in-process restart (with the new config) and ``stop``
when it stops. A canvas host that cannot start (busy port, unusable root) is logged, kept in
``last_error`` and left off until the next restart: the gateway itself runs on. ``url`` is the bound URL
while it runs (``hello-ok.canvasHostUrl`` is built from its port).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import attrs
import trio

from ..config.model import Config
from ..config.ports import canvas_host_port
from .files import resolve_root
from .server import CanvasSettings, CanvasStartError, serve_canvas

log = logging.getLogger("moltbot.canvas")

STOP_GRACE_SECONDS = 2.0
MOUNT_PATH = "/__moltbot__/canvas/"


def canvas_settings(config: Config, env: Mapping[str, str], *, gateway_port: int, host: str) -> CanvasSettings | None:
    """What the canvas host should run with, or None when it is disabled (by config or by
    ``CLAWDBOT_SKIP_CANVAS_HOST=1``). ``gateway_port`` is the configured one (0 gives 0)."""
    section = config.canvas_host
    if not section.enabled or env.get("CLAWDBOT_SKIP_CANVAS_HOST") == "1":
        return None
    return CanvasSettings(host=host, port=canvas_host_port(gateway_port, section.port),
                          root=resolve_root(section.root, env), live_reload=section.live_reload)


class CanvasHost:
    def __init__(self) -> None:
        self.settings: CanvasSettings | None = None  # as requested (port 0 stays 0)
        self.url: str | None = None
        self.last_error: str | None = None
        self._bound_port: int | None = None
        self._stop = trio.Event()
        self._done: trio.Event | None = None
        self._scope = trio.CancelScope()

    @property
    def port(self) -> int | None:
        return self._bound_port if self.url is not None else None

    @property
    def host(self) -> str | None:
        return self.settings.host if self.settings is not None and self.url is not None else None

    async def apply(self, nursery: trio.Nursery, settings: CanvasSettings | None) -> None:
        """Run with ``settings`` (None: not at all); a running host with the same settings is kept."""
        if settings == self.settings and (self.url is not None or settings is None):
            return
        previous_port = self._bound_port if self.settings is not None and self.settings.port == 0 else None
        await self.stop()
        self.settings, self.last_error = settings, None
        if settings is None:
            return
        # "Any free port" is resolved once: a rebuild tries the port it had, like the gateway's listener.
        for port in dict.fromkeys(p for p in (previous_port if settings.port == 0 else None, settings.port)
                                  if p is not None):
            try:
                await self._start(nursery, attrs.evolve(settings, port=port))
                return
            except CanvasStartError as exc:
                self.last_error = str(exc)
        log.error("canvas host not started: %s (the gateway runs without it; fix canvasHost and restart)",
                  self.last_error)

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
        log.info("canvas host on %s%s (root %s%s)", url, MOUNT_PATH, settings.root,
                 "" if settings.live_reload else ", live reload off")

    async def stop(self) -> None:
        """Stop serving (live-reload pages are closed 1001) and wait until the port is released."""
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

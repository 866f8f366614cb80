"""The canvas host as a child of the gateway's root nursery, rebuilt only when its settings change.

The Gateway calls ``apply`` at start and on every in-process restart (with the new config) and ``stop``
when it stops. A canvas host that cannot start is logged and kept in ``last_error``; the gateway itself
runs on. A busy port is retried in the background (1, 2, 4 … 30 s: the other process may be a gateway
that is still stopping), and so is a crash after start; an unusable root waits for the next restart.
``url`` is the bound URL while it runs (``hello-ok.canvasHostUrl`` is built from its port). The server
runs as the supervised child ``canvas`` (``gateway/supervisor.py``), in the nursery the Gateway passes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

import attrs
import trio

from .._backoff import Backoff
from ..config.model import Config
from ..config.ports import canvas_host_port
from ..gateway.origin import policy_config
from ..gateway.supervisor import Child
from .files import resolve_root
from .server import CanvasSettings, CanvasStartError, serve_canvas

log = logging.getLogger("moltbot.canvas")

STOP_GRACE_SECONDS = 2.0
RETRY = Backoff(initial=1.0, maximum=30.0)  # 1, 2, 4 … 30 s, then every 30 s
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
        self._bound_port: int | None = None
        self._stop = trio.Event()
        self._started = trio.Event()
        self.child = Child("canvas", self._serve, backoff=RETRY, graceful=lambda: self._stop.set(),
                           grace=STOP_GRACE_SECONDS, on_change=self._changed)

    @property
    def last_error(self) -> str | None:
        return None if self.child.running else self.child.last_error

    @property
    def retrying(self) -> bool:
        return self.child.active and not self.child.running

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
        """Run with ``settings`` (None: not at all) in ``nursery``; a running host with the same settings
        is kept."""
        if settings == self.settings and (self.url is not None or settings is None or self.retrying):
            return
        previous_port = self._bound_port if self.settings is not None and self.settings.port == 0 else None
        await self.stop()
        self.settings = settings
        self.child.last_error = None
        if settings is None:
            return
        # "Any free port" is resolved once: a rebuild tries the port it had, like the gateway's listener.
        error: CanvasStartError | None = None
        for port in dict.fromkeys(p for p in (previous_port if settings.port == 0 else None, settings.port)
                                  if p is not None):
            try:
                await self.child.start(nursery, functools.partial(self._serve, attrs.evolve(settings, port=port)))
                return
            except CanvasStartError as exc:
                error = exc
        assert error is not None
        log.error("canvas host not started: %s (the gateway runs without it; %s)", error,
                  "retrying in the background" if error.retryable else "fix canvasHost and restart")
        if error.retryable:
            self.child.start_later(nursery, str(error), functools.partial(self._serve, settings))

    async def _serve(self, settings: CanvasSettings, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self._stop = stop = trio.Event()
        await serve_canvas(settings, stop, task_status=task_status)

    def _changed(self, child: Child) -> None:
        """The child's state changed: ``url`` follows it, and a start is announced."""
        if not child.running:
            self.url = None
            return
        if self.url == child.value:
            return
        self.url = child.value
        self._bound_port = int(self.url.rsplit(":", 1)[1])
        self._started.set()
        self._started = trio.Event()
        assert self.settings is not None
        log.info("canvas host on %s%s (root %s%s)", self.url, MOUNT_PATH, self.settings.root,
                 "" if self.settings.live_reload else ", live reload off")

    async def stop(self) -> None:
        """Stop serving (live-reload pages are closed 1001) and wait until the port is released."""
        await self.child.stop("canvas host stop")
        self.url = None

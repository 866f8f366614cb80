"""What the Gateway is asked to do: restart and stop requests, on one memory channel, served one at a time.

Requests come from this process only (signals, reloads, timers, ``Gateway.stop``), so the channel is
unbounded. ``next`` takes every request queued by then: their restarts merged into one (so a reload and
a SIGUSR1 landing together restart once, never running two channel pollers side by side), and a stop
among them wins over the restarts. A request made once the Gateway has stopped is logged and dropped.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import attrs
import trio

from ..config.model import Config

log = logging.getLogger("moltbot.gateway")

__all__ = ["MAX_RESTART_DELAY_MS", "GatewayRequests", "RestartRequest", "StopRequest"]

MAX_RESTART_DELAY_MS = 60_000


@attrs.frozen
class RestartRequest:
    reason: str
    config: Config | None = None  # None: re-read the file

    def merged(self, later: RestartRequest) -> RestartRequest:
        """One restart for both: both reasons, the later config if it has one."""
        return RestartRequest(f"{self.reason}; {later.reason}", later.config or self.config)


@attrs.frozen
class StopRequest:
    reason: str


class GatewayRequests:
    """The Gateway's request channel, and which restarts it takes from a signal."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[RestartRequest | StopRequest](math.inf)
        self._restart_authorized_until = 0.0  # a scheduled restart lets a signal restart until then

    def put(self, request: RestartRequest | StopRequest) -> None:
        try:
            self._send.send_nowait(request)
        except trio.BrokenResourceError:  # the gateway has stopped: nothing is left to restart or stop
            log.debug("%s after the gateway stopped, ignored: %s", type(request).__name__, request.reason)

    async def next(self) -> RestartRequest | StopRequest:
        """The next request to serve: a stop if any was queued, else the queued restarts merged."""
        stop: StopRequest | None = None
        restart: RestartRequest | None = None
        request = await self._receive.receive()
        while True:
            if isinstance(request, StopRequest):
                stop = stop or request
            else:
                restart = request if restart is None else restart.merged(request)
            try:
                request = self._receive.receive_nowait()
            except trio.WouldBlock:
                break
        result = stop or restart
        assert result is not None  # one request at least was received
        return result

    def close(self) -> None:
        """No more requests are served (the Gateway stopped): later ones are dropped."""
        self._receive.close()

    def schedule_restart(self, nursery: trio.Nursery, *, delay_ms: int, reason: str | None) -> dict[str, Any]:
        """A restart after ``delay_ms`` (clamped 0..60000), by a task of ``nursery``; answers the
        original's ScheduledRestart."""
        delay_ms = max(0, min(MAX_RESTART_DELAY_MS, int(delay_ms)))
        reason = (reason or "").strip()[:200] or None
        self._restart_authorized_until = trio.current_time() + delay_ms / 1000 + 5

        async def restart_later() -> None:
            await trio.sleep(delay_ms / 1000)
            self.put(RestartRequest(reason or "scheduled restart"))

        nursery.start_soon(restart_later, name="scheduled-restart")
        result: dict[str, Any] = {
            "ok": True,
            "pid": os.getpid(),
            "signal": "SIGUSR1",
            "delayMs": delay_ms,
            "mode": "emit",
        }
        if reason:
            result["reason"] = reason
        return result

    def restart_signal(self, name: str, config: Config) -> bool:
        """SIGUSR1 (or SIGUSR2): restart in-process, as the README and the seed promise, unless
        ``commands.restart`` is ``false`` (external restarts off) and no restart was scheduled."""
        if config.commands.restart is not False or trio.current_time() <= self._restart_authorized_until:
            self.put(RestartRequest(name))
            return True
        log.warning(
            "%s restart ignored: commands.restart is false (external restarts are off; unset it or "
            "set it to true to allow them)",
            name,
        )
        return False

"""Run the gateway as the process's main program.

SIGINT/SIGTERM stop it gracefully (``shutdown`` event, clients closed 1012, exit within five seconds);
SIGUSR1 restarts it in-process unless ``commands.restart`` is ``false`` (then only a scheduled restart); SIGUSR2 does
the same (today's OpenClaw restarts on SIGUSR2, so its service files and scripts send that one). A second
stop signal during the stop is ignored; the five-second deadline then cancels whatever is left.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Mapping

import trio

from ..config.model import Config
from .app import Gateway, serve_gateway

log = logging.getLogger("moltbot.gateway")

STOP_DEADLINE_SECONDS = 5.0
RESTART_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


async def run_gateway(config: Config, *, port: int | None = None, port_source: str | None = None,
                      env: Mapping[str, str] | None = None,
                      on_started: Callable[[Gateway], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully within five seconds (then cancel).

    ``on_started`` is called once the gateway listens, and again whenever a restart moves the listener
    (a changed ``gateway.port``/``gateway.bind``), so a lock record or a console line can follow it.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, *RESTART_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:
            gateway: Gateway = await nursery.start(lambda task_status: serve_gateway(
                config, port=port, port_source=port_source, env=env, task_status=task_status))
            if on_started is not None:
                gateway.on_listener_moved = on_started
                on_started(gateway)
            async for signum in signals:
                if signum in RESTART_SIGNALS:
                    gateway.handle_sigusr1(signal.Signals(signum).name)
                    continue
                log.info("received %s: stopping", signal.Signals(signum).name)
                break
            with trio.move_on_after(STOP_DEADLINE_SECONDS):
                await gateway.stop()
            nursery.cancel_scope.cancel()

"""Event fan-out: one global ``seq``, the presence/health state versions, and the tick.

Each broadcast is encoded once (JSON text, and the WebSocket frame of the lean path: ``websocket.Shared``) and queued on every connection allowed to see it (``_scopes.event_guard``:
chat/agent/presence/cron need read, pairing events pairing, …; tick/health/heartbeat/shutdown go to
everyone; worker-mode connections get none); droppable events are skipped for a slow client, others close it (``Connection.send``). ``seq``
increments on every broadcast, even one that reaches nobody, as in the reference.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from .._util import wall_ms
from ..protocol import EventFrame, StateVersion, TickEvent, encode_frame, event_guard, guard_admits
from .websocket import Shared

log = logging.getLogger("moltbot.gateway")

if TYPE_CHECKING:
    from .connection import Connection


def _may_see(connection: Connection, guard: tuple[str, ...]) -> bool:
    session = connection.session
    return guard_admits(guard, session.role, session.scopes, session.protocol)


def _is_worker(connection: Connection) -> bool:
    """A ``client.mode: "worker"`` connection: OpenClaw sends workers no broadcast event at all, not even
    ``tick`` (``hasEventScope``: ``connectionKind === "worker"`` → false); they only call methods."""
    return connection.params.client.mode == "worker"


class Broadcaster:
    def __init__(self) -> None:
        self.seq = 0
        self.presence_version = 1
        self.health_version = 1
        self.connections: set[Connection] = set()
        self.last_frame_bytes = 0

    def state_version(self) -> StateVersion:
        return StateVersion(presence=self.presence_version, health=self.health_version)

    def broadcast(self, event: str, payload: Any, *, droppable: bool, with_state_version: bool = False,
                  scope: str | None = None) -> int:
        """Send ``event`` to every connected client; return its ``seq``.

        Only connections the event's guard admits receive it; ``scope``, when given, is the guard instead
        (only operators holding it, or a scope implying it, receive the event).
        """
        self.seq += 1
        if not self.connections:  # nobody to tell: skip the encoding (agent runs emit many events)
            return self.seq
        text = self.event_text(event, payload, with_state_version=with_state_version)
        self.last_frame_bytes = len(text)
        sent = self.deliver(text, event, list(self.connections), droppable=droppable, scope=scope)
        if event != "tick" and log.isEnabledFor(logging.DEBUG):  # the event's name and size, never its payload
            log.debug("event %s seq=%d to %d of %d connection(s) (%d bytes)", event, self.seq, sent,
                      len(self.connections), len(text))
        return self.seq

    def event_text(self, event: str, payload: Any, *, with_state_version: bool = False) -> Shared:
        """The event frame with the current ``seq``, encoded once for all (its WebSocket frame too)."""
        frame = EventFrame(
            event=event, payload=payload, seq=self.seq,
            state_version=self.state_version() if with_state_version else None,
        )
        return Shared(encode_frame(frame))

    def deliver(self, text: str, event: str, connections: list[Connection], *, droppable: bool,
                scope: str | None = None) -> int:
        """Queue ``text`` (``event_text``) on each of ``connections`` the event's guard admits; how many."""
        guard = (scope,) if scope is not None else event_guard(event)
        sent = 0
        for connection in connections:
            if (guard and not _may_see(connection, guard)) or _is_worker(connection):
                continue
            sent += 1
            try:
                connection.send(text, droppable=droppable)
            except Exception:  # one broken connection must not stop the fan-out (or the Runtime)
                log.exception("broadcast of %s to %s failed; closing it", event, connection.conn_id)
                self.connections.discard(connection)
                connection.abort(1011, "internal error")
        return sent

    async def serve_ticks(self, interval_ms: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Broadcast ``tick {ts}`` every ``interval_ms`` on the trio clock, without drift."""
        interval = interval_ms / 1000
        deadline = trio.current_time() + interval
        task_status.started()
        while True:
            await trio.sleep_until(deadline)
            self.broadcast("tick", TickEvent(ts=wall_ms()), droppable=True)
            deadline += interval

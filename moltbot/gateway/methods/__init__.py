"""Method handlers by namespace: ``async def handler(gateway, connection, params) -> result``."""

from . import system

HANDLERS = {
    "health": system.health,
    "status": system.status,
    "last-heartbeat": system.last_heartbeat,
    "system-presence": system.system_presence,
    "system-event": system.system_event,
}

# Handlers that only compute (no I/O, no waiting): run in the connection's reader, no task per request.
INLINE = frozenset({"health", "status", "last-heartbeat", "system-presence", "system-event"})

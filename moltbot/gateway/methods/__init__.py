"""Method handlers by namespace: ``async def handler(gateway, connection, params) -> result``."""

from . import system

HANDLERS = {
    "health": system.health,
    "status": system.status,
    "last-heartbeat": system.last_heartbeat,
    "system-presence": system.system_presence,
    "system-event": system.system_event,
}

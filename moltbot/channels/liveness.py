"""Channel health from real traffic: each account's health state, and restarting a silent connection.

Theory of operation: an account is ``connected`` only while its channel says so *and* traffic keeps
arriving: every response of the platform (a Telegram ``getUpdates`` that returns, a WhatsApp event)
moves ``lastTransportActivityAt``. An account whose object names a ``silence_limit`` (seconds: the
longest a healthy connection stays quiet, e.g. a long poll's timeout plus a margin) and that has heard
nothing for longer is restarted by ``serve_liveness``: one account's child, never the gateway. A child
that keeps failing climbs the backoff ladder; past ``STALL_ATTEMPTS`` failures in a row it is
``stalled``: ``stalledSince`` is set, a warning is logged once and the summary line says so, and it is
still retried at the ladder's top rung (every few minutes) for as long as the gateway runs.

States (``healthState``): connecting (never connected in this run), connected, reconnecting (attempt
n), stalled (since …), stopped, failed (will not be retried: not linked, no state dir), disabled,
not-configured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from .base import wall_ms

if TYPE_CHECKING:
    from .manager import ChannelManager, Slot

log = logging.getLogger("moltbot.channels")

STALL_ATTEMPTS = 5  # failures in a row (2 + 4 + 8 + 16 + 32 s of backoff) before an account is "stalled"
CHECK_SECONDS = 5.0


def health_state(slot: Slot | None, status_error: str | None = None) -> str:
    if slot is None:
        return {"disabled": "disabled", "not configured": "not-configured"}.get(status_error or "", "stopped")
    child, status = slot.child, slot.status
    if child.state == "failed":
        return "failed"
    if child.state in ("stopped", "idle"):
        return "stopped"
    if status.connected:
        return "connected"
    if child.attempt > STALL_ATTEMPTS:
        return "stalled"
    if child.attempt == 0 and status.last_connected_at is None:
        return "connecting"
    return "reconnecting"


def fields(slot: Slot | None, status_error: str | None) -> dict[str, Any]:
    """The health fields of an account's ``channels.status`` row."""
    state = health_state(slot, status_error)
    out: dict[str, Any] = {"healthState": state}
    if slot is not None and state == "stalled" and slot.status.stalled_since is not None:
        out["stalledSince"] = slot.status.stalled_since
    return out


def child_changed(manager: ChannelManager, slot: Slot) -> None:
    """The account's child changed state (or connected): attempts, ``stalledSince``, the health snapshot."""
    status, child = slot.status, slot.child
    status.reconnect_attempts = child.attempt
    state = health_state(slot)
    if state == "stalled" and status.stalled_since is None:
        status.stalled_since = wall_ms()
        log.warning("%s stalled: %d attempts in a row failed (last: %s); still retrying every %.0fs",
                    child.name, child.attempt, status.last_error,
                    child.backoff.maximum if child.backoff is not None else 0)
    elif state == "connected":
        status.stalled_since = None
    manager._status_changed()


async def serve_liveness(manager: ChannelManager) -> None:
    """Every ``CHECK_SECONDS``: restart each connected account silent for longer than its limit."""
    async with trio.open_nursery() as nursery:
        while True:
            await trio.sleep(CHECK_SECONDS)
            now = wall_ms()
            for key, slot in list(manager.slots.items()):
                limit = getattr(slot.account, "silence_limit", None)
                heard = slot.status.last_transport_activity_at
                if not limit or not slot.status.connected or heard is None or now - heard <= limit * 1000:
                    continue
                reason = f"no traffic for {(now - heard) / 1000:.0f}s (limit {limit:g}s); restarting the connection"
                log.warning("%s:%s %s", key[0], key[1], reason)
                slot.status.connected, slot.status.last_error = False, reason
                nursery.start_soon(_restart, manager, key, slot, reason)


async def _restart(manager: ChannelManager, key: tuple[str, str], slot: Slot, reason: str) -> None:
    async with manager._locks[key[0]]:
        if manager.slots.get(key) is slot:  # not replaced or stopped meanwhile
            await slot.child.restart(reason)

"""Who is connected: the presence list (the gateway's own entry first), with TTL and a size cap.

``PresenceRegistry`` holds the entries; ``PresenceTracker`` keeps one row per tracked client (a device
connected twice keeps one row until its last connection goes) and announces changes as ``presence``
events, merged over a span so that a burst of connects is not one full-list broadcast per connect.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import trio

from .._util import wall_ms
from ..protocol import PresenceEntry, PresenceEvent, dumps, unstructure
from ..tailscale.identity import presence_user
from .auth import is_loopback

if TYPE_CHECKING:
    from .broadcast import Broadcaster
    from .connection import Connection

TTL_MS = 5 * 60 * 1000
MAX_ENTRIES = 200
PRESENCE_MIN_INTERVAL = 0.5
# Presence events carry the whole list to every client; past this rate they are merged over longer spans.
PRESENCE_BYTES_PER_SECOND = 2 * 1024 * 1024


def self_entry(version: str, now_ms: int) -> PresenceEntry:
    host = socket.gethostname() or "localhost"
    system = platform.system().lower() or "unknown"
    family = {"darwin": "Mac", "windows": "Windows", "linux": "Linux"}.get(system, platform.system() or "Unknown")
    return PresenceEntry(
        ts=now_ms, host=host, version=version, platform=f"{system} {platform.release()}".strip(),
        device_family=family, model_identifier=platform.machine() or None, mode="gateway", reason="self",
        text=f"Gateway: {host} · app {version} · mode gateway · reason self",
    )


class PresenceRegistry:
    """Presence entries keyed by device id / instance id / connection id, plus the gateway's own.

    Entries older than five minutes are dropped when the list is read; past 200 the oldest go first.
    """

    def __init__(self, version: str, clock_ms: Callable[[], int] = wall_ms) -> None:
        self._version = version
        self._clock_ms = clock_ms
        self._self_key = (socket.gethostname() or "gateway").lower()
        self._entries: dict[str, PresenceEntry] = {}
        self._wire: dict[int, tuple[PresenceEntry, str]] = {}  # id(entry) → (entry, its JSON text)
        self.pid = os.getpid()

    def upsert(self, key: str, entry: PresenceEntry) -> None:
        self._entries.pop(key, None)
        self._entries[key] = entry
        while len(self._entries) > MAX_ENTRIES:
            oldest = min(self._entries, key=lambda k: self._entries[k].ts)
            del self._entries[oldest]

    def merge(self, key: str, **changes) -> PresenceEntry:
        """Update fields of an entry (creating it), stamping ``ts`` now."""
        current = self._entries.get(key) or PresenceEntry(ts=0)
        entry = attrs.evolve(current, ts=self._clock_ms(), **changes)
        self.upsert(key, entry)
        return entry

    def remove(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    def entries(self) -> list[PresenceEntry]:
        now = self._clock_ms()
        for key in [k for k, e in self._entries.items() if now - e.ts > TTL_MS]:
            del self._entries[key]
        listed = sorted(self._entries.values(), key=lambda e: e.ts, reverse=True)
        return [self_entry(self._version, now), *listed]

    def wire(self, entries: list[PresenceEntry]) -> str:
        """``entries`` as a JSON array (what ``dumps(unstructure(entries))`` gives), each entry's JSON kept
        while the entry is the same (immutable) object: a hello-ok lists up to 200 entries, and encoding
        them for every connect was most of the gateway's cost of opening a connection."""
        cache, fresh, parts = self._wire, {}, []
        for entry in entries:
            hit = cache.get(id(entry))
            if hit is None or hit[0] is not entry:
                hit = (entry, dumps(unstructure(entry)))
            fresh[id(entry)] = hit
            parts.append(hit[1])
        self._wire = fresh
        return f"[{','.join(parts)}]"

    def __len__(self) -> int:
        return len(self._entries)


class PresenceTracker:
    """The presence rows of one Runtime's connections, and the ``presence`` events announcing them."""

    def __init__(self, registry: PresenceRegistry, broadcaster: Broadcaster) -> None:
        self.registry = registry
        self._broadcaster = broadcaster
        self._holders: dict[str, int] = {}  # connections per presence row: one row per device
        self._dirty = trio.Event()

    def track(self, connection: Connection) -> None:
        """Give an accepted client its presence row (keyed by device, else instance, else connection)."""
        params, client, peer = connection.params, connection.params.client, connection.transport.facts
        device_id = params.device.id if params.device else None
        connection.presence_key = key = device_id or client.instance_id or connection.conn_id
        self._holders[key] = self._holders.get(key, 0) + 1
        self.registry.upsert(connection.presence_key, PresenceEntry(
            ts=wall_ms(), host=client.display_name or client.id,
            ip=None if peer.local or is_loopback(peer.address) else peer.address,
            version=client.version, platform=client.platform, device_family=client.device_family,
            model_identifier=client.model_identifier, mode=client.mode, device_id=device_id,
            roles=[connection.session.role], scopes=sorted(connection.session.scopes) or None,
            instance_id=device_id or client.instance_id, reason="connect",
            user=presence_user(getattr(connection.transport, "tailscale_identity", None)),
        ))
        self._broadcaster.presence_version += 1

    def release(self, key: str) -> bool:
        """Drop a presence row when its last connection goes (a device connected twice keeps its row)."""
        holders = self._holders.get(key, 1) - 1
        if holders > 0:
            self._holders[key] = holders
            return False
        self._holders.pop(key, None)
        return self.registry.remove(key)

    def announce(self, *, bump: bool = True) -> None:
        """Announce a presence change: at once, or merged with the changes that follow within a span.

        Each event carries the whole list (up to 200 entries) to every client, so a burst of connects must
        not cost one full broadcast per connect (quadratic traffic that ends in slow-consumer closes): the
        span is ``PRESENCE_MIN_INTERVAL``, longer when the last event cost more than
        ``PRESENCE_BYTES_PER_SECOND`` would allow. Clients get the full list in ``hello-ok`` anyway.
        """
        if bump:
            self._broadcaster.presence_version += 1
        self._dirty.set()

    async def serve(self) -> None:
        """Send the announced changes, one event per span, until cancelled (a Runtime service)."""
        broadcaster = self._broadcaster
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            broadcaster.broadcast("presence", PresenceEvent(self.registry.entries()), droppable=True,
                                  with_state_version=True)
            sent = broadcaster.last_frame_bytes * len(broadcaster.connections)
            await trio.sleep(max(PRESENCE_MIN_INTERVAL, sent / PRESENCE_BYTES_PER_SECOND))

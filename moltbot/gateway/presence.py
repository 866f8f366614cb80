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


def _ts(entry: PresenceEntry) -> int:
    return entry.ts


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
        self._generation = 0  # bumped by every change of ``_entries``
        self._ordered, self._newest = True, 0  # ``_entries`` is in ts order; the newest ts seen
        # ``wire_now``'s: (generation, when the first entry expires, the entries' JSON after our own).
        self._listed: tuple[int, int, str] | None = None
        self._self_json: tuple[str, str] | None = None  # our own entry's JSON around its ``ts``
        self.pid = os.getpid()

    def upsert(self, key: str, entry: PresenceEntry) -> None:
        self._generation += 1
        entries = self._entries
        entries.pop(key, None)
        # Entries come stamped now: while each is no older than the newest, the dict's order is the ts
        # order and the oldest is the first one (no scan of 200 entries per connect at the cap).
        self._ordered = self._ordered and entry.ts >= self._newest
        self._newest = max(self._newest, entry.ts)
        entries[key] = entry
        while len(entries) > MAX_ENTRIES:
            if self._ordered:
                oldest = next(iter(entries))
            else:
                oldest = min(entries, key=lambda k: entries[k].ts)
            del entries[oldest]

    def merge(self, key: str, **changes) -> PresenceEntry:
        """Update fields of an entry (creating it), stamping ``ts`` now."""
        current = self._entries.get(key) or PresenceEntry(ts=0)
        entry = attrs.evolve(current, ts=self._clock_ms(), **changes)
        self.upsert(key, entry)
        return entry

    def remove(self, key: str) -> bool:
        self._generation += 1
        return self._entries.pop(key, None) is not None

    def _prune(self, now: int) -> None:
        expired = [k for k, e in self._entries.items() if now - e.ts > TTL_MS]
        if expired:
            self._generation += 1
            for key in expired:
                del self._entries[key]

    def entries(self) -> list[PresenceEntry]:
        now = self._clock_ms()
        self._prune(now)
        listed = sorted(self._entries.values(), key=_ts, reverse=True)
        return [self_entry(self._version, now), *listed]

    def wire_now(self) -> str:
        """What ``wire(entries())`` gives, kept between changes: the list after our own entry is encoded
        again only when an entry changes or expires, our own entry (stamped now) from its encoding with
        another ``ts``. Each connect's hello-ok lists up to 200 entries."""
        now = self._clock_ms()
        listed = self._listed
        if listed is None or listed[0] != self._generation or now > listed[1]:
            entries = sorted(self._entries.values(), key=_ts, reverse=True)
            if entries and now - entries[-1].ts > TTL_MS:  # the oldest has expired
                self._prune(now)
                entries = sorted(self._entries.values(), key=_ts, reverse=True)
            rest = self.wire(entries)[1:-1]
            expires = entries[-1].ts + TTL_MS if entries else now + TTL_MS
            self._listed = listed = (self._generation, expires, rest)
        own = self._own_json(now)
        return f"[{own},{listed[2]}]" if listed[2] else f"[{own}]"

    def _own_json(self, now: int) -> str:
        parts = self._self_json
        if parts is None:
            text = dumps(unstructure(self_entry(self._version, 0)))
            head = '{"ts":0'
            if not text.startswith(head):  # pragma: no cover - ``ts`` is the entry's first field
                return dumps(unstructure(self_entry(self._version, now)))
            self._self_json = parts = ('{"ts":', text[len(head) :])
        return f"{parts[0]}{now}{parts[1]}"

    def wire(self, entries: list[PresenceEntry]) -> str:
        """``entries`` as a JSON array (what ``dumps(unstructure(entries))`` gives), each entry's JSON kept
        while the entry is the same (immutable) object: a hello-ok lists up to 200 entries, and encoding
        them for every connect was most of the gateway's cost of opening a connection."""
        cache, parts = self._wire, []
        for entry in entries:
            hit = cache.get(id(entry))
            if hit is None or hit[0] is not entry:
                hit = cache[id(entry)] = (entry, dumps(unstructure(entry)))
            parts.append(hit[1])
        if len(cache) > 2 * len(entries) + 16:  # entries gone: keep only those of this list
            self._wire = {id(entry): cache[id(entry)] for entry in entries}
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

"""Who is connected: the presence list (the gateway's own entry first), with TTL and a size cap."""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable

import attrs

from .._util import wall_ms
from ..protocol import PresenceEntry, dumps, unstructure

TTL_MS = 5 * 60 * 1000
MAX_ENTRIES = 200


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

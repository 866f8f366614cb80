"""DM pairing, as the original's: pending codes and the approved-senders store, per channel.

Files: ``<stateDir>/credentials/<channel>-pairing.json`` (``{"version": 1, "requests": [...]}``) and
``<channel>-allowFrom.json`` (``{"version": 1, "allowFrom": [...]}``), written atomically. A code is 8
characters from an alphabet without look-alikes; a request lives an hour; at most three are pending per
channel (a fourth unknown sender gets no code until one expires or is approved).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from ..store.atomic import write_atomic
from .base import wall_ms

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
TTL_MS = 60 * 60 * 1000
MAX_PENDING = 3


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


class PairingStore:
    def __init__(self, state_dir: Path | None, channel: str) -> None:
        base = state_dir / "credentials" if state_dir else None
        self.channel = channel
        self.requests_path = base / f"{channel}-pairing.json" if base else None
        self.allow_path = base / f"{channel}-allowFrom.json" if base else None
        self._memory: dict[str, Any] = {"requests": [], "allowFrom": []}

    def _read(self, path: Path | None, key: str) -> list[Any]:
        if path is None:
            return list(self._memory[key])
        try:
            data = json.loads(path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return []
        value = data.get(key) if isinstance(data, dict) else None
        return value if isinstance(value, list) else []

    def _write(self, path: Path | None, key: str, value: list[Any]) -> None:
        if path is None:
            self._memory[key] = value
        else:
            write_atomic(path, json.dumps({"version": 1, key: value}, indent=2) + "\n")

    def allowed(self) -> set[str]:
        return {str(entry) for entry in self._read(self.allow_path, "allowFrom")}

    def pending(self, now_ms: int | None = None) -> list[dict[str, Any]]:
        now = wall_ms() if now_ms is None else now_ms
        return [r for r in self._read(self.requests_path, "requests") if now - r.get("createdAt", 0) < TTL_MS]

    def request(self, sender_id: str, meta: dict[str, Any] | None = None,
                now_ms: int | None = None) -> tuple[str | None, bool]:
        """(code, created) for ``sender_id``: the pending code if any, a new one if there is room, else
        (None, False)."""
        now = wall_ms() if now_ms is None else now_ms
        pending = self.pending(now)
        for entry in pending:
            if entry.get("id") == sender_id:
                entry["lastSeenAt"] = now
                self._write(self.requests_path, "requests", pending)
                return entry["code"], False
        if len(pending) >= MAX_PENDING:
            return None, False
        code = new_code()
        pending.append({"id": sender_id, "code": code, "createdAt": now, "lastSeenAt": now, "meta": meta or {}})
        self._write(self.requests_path, "requests", pending)
        return code, True

    def approve(self, code: str) -> str | None:
        """Move the sender with ``code`` to the allowlist; returns the sender id (None if no such code)."""
        pending = self.pending()
        match = next((r for r in pending if r.get("code") == code.strip().upper()), None)
        if match is None:
            return None
        self._write(self.requests_path, "requests", [r for r in pending if r is not match])
        allow = self._read(self.allow_path, "allowFrom")
        if match["id"] not in allow:
            allow.append(match["id"])
            self._write(self.allow_path, "allowFrom", allow)
        return match["id"]

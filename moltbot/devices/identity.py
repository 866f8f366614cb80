"""A client's own device identity and the device tokens it was issued (the client side).

The identity file is ``<stateDir>/identity/device.json`` (``{version:1, deviceId, publicKeyPem,
privateKeyPem, createdAtMs}``, 0600): ``~/.clawdbot/identity/device.json`` for the default profile, as in
the original, and inside the profile's own dir for ``--dev``/``--profile`` (which never touch the default
one). It is shared by the CLI and the node host, so one machine is one device with several roles. Device tokens from
``hello-ok.auth`` go to ``<stateDir>/identity/device-auth.json`` (``{version:1, deviceId, tokens:{role:
{token, role, scopes, updatedAtMs}}}``, 0600). These functions block: call them before ``trio.run`` or
through ``trio.to_thread``.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config.paths import resolve_state_dir
from ..protocol import DeviceKeyPair
from ..store.atomic import write_atomic
from .store import now_ms


def identity_path(env: Mapping[str, str] = os.environ) -> Path:
    return resolve_state_dir(env) / "identity" / "device.json"


def load_or_create_identity(path: Path) -> DeviceKeyPair:
    """The key pair stored at ``path``; a new one is generated and stored (0600) when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DeviceKeyPair.from_private_pem(data["privateKeyPem"])
    except FileNotFoundError:
        pass
    key = DeviceKeyPair.generate()
    record = {"version": 1, "deviceId": key.device_id, "publicKeyPem": key.public_pem(),
              "privateKeyPem": key.private_pem(), "createdAtMs": now_ms()}
    write_atomic(path, json.dumps(record, indent=2) + "\n")
    return key


class DeviceAuthStore:
    """The device tokens one device holds, by role."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self, device_id: str) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("deviceId") != device_id:
            return {}
        return data.get("tokens") or {}

    def load(self, device_id: str, role: str) -> str | None:
        entry = self._read(device_id).get(role)
        return entry.get("token") if isinstance(entry, dict) else None

    def store(self, device_id: str, role: str, token: str, scopes: list[str]) -> None:
        with self._locked():
            tokens = self._read(device_id)
            tokens[role] = {"token": token, "role": role, "scopes": scopes, "updatedAtMs": now_ms()}
            self._write(device_id, tokens)

    def clear(self, device_id: str, role: str) -> None:
        with self._locked():
            tokens = self._read(device_id)
            if tokens.pop(role, None) is not None:
                self._write(device_id, tokens)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One read-modify-write at a time across processes (``moltbot node run`` and a CLI command of the
        same device store their roles' tokens in the same file): an advisory lock on a sibling file."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _write(self, device_id: str, tokens: dict[str, Any]) -> None:
        write_atomic(self.path, json.dumps({"version": 1, "deviceId": device_id, "tokens": tokens}, indent=2) + "\n")

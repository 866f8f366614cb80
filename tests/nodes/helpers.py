"""Shared helpers for node/device tests: a 'remote' client over loopback, event waits, signed raw connects."""

from __future__ import annotations

import json
from typing import Any

import trio

from moltbot.protocol._device import DeviceKeyPair, sign_connect
from tests.conftest import TOKEN, connect_frame

# A proxy header from an untrusted peer makes a loopback connection non-local, so the
# pairing rules for remote devices can be exercised without leaving 127.0.0.1.
REMOTE = [("X-Forwarded-For", "203.0.113.7")]
OPERATOR_SCOPES = ["operator.read", "operator.write", "operator.pairing"]


async def next_event(events: trio.MemoryReceiveChannel, name: str) -> Any:
    async for event in events:
        if event.event == name:
            return event
    raise AssertionError(f"connection ended before {name}")


def signed_connect(key: DeviceKeyPair, nonce: str | None, *, request_id: str = "c1", signed_at: int | None = None,
                   token: str | None = TOKEN, role: str = "node", scopes: list[str] | None = None,
                   device_key: DeviceKeyPair | None = None) -> dict[str, Any]:
    """A connect request whose ``device`` block is signed by ``key`` (and claims ``device_key``'s identity)."""
    params = json.loads(connect_frame(auth={"token": token} if token else None, role=role,
                                      scopes=scopes))["params"]
    params["client"] = {"id": "node-host", "version": "1", "platform": "linux", "mode": "node"}
    block = sign_connect(key, params, nonce=nonce, signed_at_ms=signed_at)
    if device_key is not None:
        block.update(id=device_key.device_id, publicKey=device_key.public_key)
    params["device"] = block
    return {"type": "req", "id": request_id, "method": "connect", "params": params}


async def wait_until(predicate, *, interval: float = 0.02) -> None:
    """Poll ``predicate`` (sync or async) until true; bound it with the caller's ``fail_after``."""
    while True:
        value = predicate()
        if hasattr(value, "__await__"):
            value = await value
        if value:
            return
        await trio.sleep(interval)

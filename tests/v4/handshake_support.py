"""Helpers of the protocol-4 handshake tests: connect frames per client kind and version, device signing
over the challenge, and validation against OpenClaw's protocol.schema.json (the ``openclaw_schema`` fixture).

The schema (2026.9.1) lags the 2026.9.6 gateway; the exceptions the tests allow are named here, once,
so no test quietly allows more:

- ``HelloOk.auth.method`` is sent by 2026.9.6 (and by us) but is not in the schema's closed ``auth``;
- ``connect.challenge`` has no schema definition (its payload is checked field by field instead).

(OpenClaw 2026.9.6 answers a request with an empty ``id`` with ``id: ""``, which the schema's
``ResponseFrame.id`` (``minLength: 1``) refuses; ours answers ``"invalid"``, so that is no exception here.)
"""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from typing import Any

import jsonschema

from moltbot.protocol._device import DeviceKeyPair, sign_connect
from tests.conftest import TOKEN, open_raw

# Protocol 4's hello-ok.auth.method values (as 2026.9.6 sends them; the schema has none).
AUTH_METHODS = ("none", "token", "password", "tailscale", "device-token", "bootstrap-token", "trusted-proxy")

# (client.id, client.mode, role) of every client kind the tests connect as.
CLIENT_KINDS = [
    ("cli", "cli", "operator"),
    ("gateway-client", "backend", "operator"),
    ("openclaw-probe", "probe", "operator"),
    ("openclaw-tui", "ui", "operator"),
    ("openclaw-macos", "ui", "operator"),
    ("openclaw-worker", "worker", "operator"),
    ("test", "test", "operator"),
    ("webchat", "webchat", "operator"),
    ("moltbot-probe", "probe", "operator"),
    ("clawdbot-macos", "ui", "operator"),
    ("node-host", "node", "node"),
]


def connect_params(protocol: tuple[int, int] = (4, 4), *, client_id: str = "cli", mode: str = "cli",
                   role: str = "operator", scopes: list[str] | None = None, auth: dict[str, Any] | None = None,
                   **client: Any) -> dict[str, Any]:
    """A connect's params (JSON) for one client kind; ``auth`` defaults to the shared token."""
    params: dict[str, Any] = {
        "minProtocol": protocol[0], "maxProtocol": protocol[1],
        "client": {"id": client_id, "version": "2026.9.6", "platform": "linux", "mode": mode, **client},
        "role": role, "auth": {"token": TOKEN} if auth is None else auth,
    }
    if scopes is not None:
        params["scopes"] = scopes
    if not params["auth"]:
        del params["auth"]
    return params


def request(params: dict[str, Any], request_id: str = "c1") -> str:
    return json.dumps({"type": "req", "id": request_id, "method": "connect", "params": params})


def signed(params: dict[str, Any], key: DeviceKeyPair, nonce: str | None, *, version: str = "v2",
           signed_at_ms: int | None = None, **device: Any) -> dict[str, Any]:
    """``params`` with a ``device`` block signed by ``key`` over ``nonce``; ``device`` overrides fields."""
    block = sign_connect(key, params, nonce=nonce, signed_at_ms=signed_at_ms, payload_version=version)
    block.update(device)
    return {**params, "device": {k: v for k, v in block.items() if v is not None}}


@asynccontextmanager
async def open_device_node(url: str, protocol: int = 4, client_id: str = "node-host"):
    """A ``node`` connection with a fresh signed device identity (protocol 4 refuses a device-less node),
    accepted and registered (a first call has been answered)."""
    async with open_raw(url) as ws:
        params = connect_params((protocol, protocol), client_id=client_id, mode="node", role="node", scopes=[])
        await ws.send(request(signed(params, DeviceKeyPair.generate(), ws.challenge["payload"]["nonce"])))
        hello = await ws.response("c1")
        assert hello["ok"], hello
        await ws.call("no.such.method", request_id="registered")
        yield ws


def validator(schema: dict[str, Any], definition: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]})


def schema_errors(schema: dict[str, Any], definition: str, value: Any) -> list[str]:
    """Every way ``value`` fails ``definition``, as ``/path: message`` lines (empty: it validates)."""
    return [f"/{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
            for error in validator(schema, definition).iter_errors(value)]


def hello_ok_errors(schema: dict[str, Any], frame: dict[str, Any]) -> list[str]:
    """A ``res`` frame carrying hello-ok checked as ``ResponseFrame`` and its payload as ``HelloOk``, with
    the one stated exception (``auth.method``, checked against 2026.9.6's values instead)."""
    errors = schema_errors(schema, "ResponseFrame", frame)
    hello = json.loads(json.dumps(frame["payload"]))
    method = hello.get("auth", {}).pop("method", None)
    if method is not None and method not in AUTH_METHODS:
        errors.append(f"/auth/method: {method!r} is not one of {AUTH_METHODS}")
    return errors + schema_errors(schema, "HelloOk", hello)


def challenge_errors(schema: dict[str, Any], frame: dict[str, Any]) -> list[str]:
    """``connect.challenge``: an ``EventFrame`` whose payload is ``{nonce: UUID, ts: int ≥ 0,
    capabilities: [non-empty string]}`` (the schema has no definition of it)."""
    errors = schema_errors(schema, "EventFrame", frame)
    payload = frame.get("payload") or {}
    if set(payload) != {"nonce", "ts", "capabilities"}:
        errors.append(f"/payload: keys {sorted(payload)}")
    try:
        uuid.UUID(str(payload.get("nonce")))
    except ValueError:
        errors.append("/payload/nonce: not a UUID")
    ts = payload.get("ts")
    if not (isinstance(ts, int) and not isinstance(ts, bool) and ts >= 0):
        errors.append("/payload/ts: not an integer >= 0")
    capabilities = payload.get("capabilities")
    if not (isinstance(capabilities, list) and all(isinstance(c, str) and c for c in capabilities)):
        errors.append("/payload/capabilities: not a list of non-empty strings")
    return errors

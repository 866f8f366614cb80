"""A tiny protocol-4 gateway that behaves as today's OpenClaw does where the harness and the CLI look.

Facts from the digest (``../shared/reference/openclaw-v4.md``): only 4 is served (a 3..3 or 7..7 offer
gets the mismatch with 4's details, close 1002); the challenge carries ``capabilities``; hello-ok has 4's
shape (``auth`` always, ``pluginSurfaceUrls``) plus fields newer than the 2026.9.1 schema
(``controlUiLinkReaders``, ``auth.method``); no scopes asked → none; a device-less client other than
``cli``/``cli`` has its scopes cleared; a missing scope is ``FORBIDDEN`` with ``MISSING_SCOPE`` details;
``health`` answers everyone; an empty request id is answered with ``id: ""`` (OpenClaw's bug).

Faults, switched on by name, prove the checks can fail:
- ``forbidden_without_details``: a missing scope is refused FORBIDDEN without ``details``;
- ``hello_without_auth``: hello-ok lacks the ``auth`` block 4 requires;
- ``tick_with_profile``: a ``tick`` with 9.6's ``recipientProfileId`` follows hello-ok.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

TOKEN = "fake4-token"
VERSION = "2026.9.6"
READ_METHODS = {"status", "health"}
STATUS = {"runtimeVersion": VERSION, "pid": 4242, "channelSummary": [], "sessions": {"count": 0},
          "queuedSystemEvents": []}
HEALTH = {"ok": True, "ts": 1, "durationMs": 0, "channels": {}, "channelOrder": [], "channelLabels": {},
          "heartbeatSeconds": 0, "defaultAgentId": "main", "agents": [], "sessions": {"path": "", "count": 0,
                                                                                       "recent": []},
          "eventLoop": {"intervalMs": 1000}}


def _res(request_id: str, payload: Any) -> str:
    return json.dumps({"type": "res", "id": request_id, "ok": True, "payload": payload})


def _error(request_id: str, code: str, message: str, details: Any = None) -> str:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"type": "res", "id": request_id, "ok": False, "error": error})


def _granted(params: dict[str, Any]) -> list[str]:
    client = params.get("client") or {}
    scopes = list(params.get("scopes") or [])
    keeps = params.get("device") or (client.get("id"), client.get("mode")) == ("cli", "cli")
    return scopes if keeps else []


def _allows(scopes: list[str], needed: str) -> bool:
    if "operator.admin" in scopes:
        return True
    return needed in scopes or (needed == "operator.read" and "operator.write" in scopes)


@attrs.define
class FakeGateway4:
    faults: frozenset[str] = frozenset()
    version: str = VERSION
    port: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve on a free loopback port until cancelled; ``task_status.started(self)`` once bound."""
        await serve_websocket(self._handle, "127.0.0.1", 0, None, task_status=_PortReporter(self, task_status),
                              max_message_size=4 * 1024 * 1024, disconnect_timeout=1)

    def hello_ok(self, params: dict[str, Any]) -> dict[str, Any]:
        hello: dict[str, Any] = {
            "type": "hello-ok", "protocol": 4,
            "server": {"version": self.version, "connId": str(uuid.uuid4()), "buildId": f"{self.version}-fake"},
            "features": {"methods": sorted(READ_METHODS), "events": ["connect.challenge", "tick", "health"],
                         "capabilities": []},
            "snapshot": {"presence": [], "health": {}, "stateVersion": {"presence": 1, "health": 1}, "uptimeMs": 0},
            "auth": {"role": params.get("role") or "operator", "scopes": _granted(params), "method": "token"},
            "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000},
            "pluginSurfaceUrls": {"canvas": f"http://127.0.0.1:{self.port}/__openclaw__/cap/fake"},
            "controlUiLinkReaders": [],
        }
        if params.get("device"):
            hello["auth"]["deviceToken"] = "fake4-device-token"
        if "hello_without_auth" in self.faults:
            del hello["auth"]
        return hello

    async def _handle(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        challenge = {"type": "event", "event": "connect.challenge",
                     "payload": {"nonce": str(uuid.uuid4()), "ts": 1, "capabilities": ["model-catalog-snapshot"]}}
        try:
            await ws.send_message(json.dumps(challenge))
            await self._serve(ws)
        except (ConnectionClosed, ValueError, KeyError, TypeError):
            pass

    async def _serve(self, ws: Any) -> None:
        first = json.loads(await ws.get_message())
        params = first.get("params") or {}
        low, high = params.get("minProtocol", 0), params.get("maxProtocol", 0)
        if not (high >= 4 and low <= 4):
            details = {"code": "PROTOCOL_MISMATCH", "clientMinProtocol": low, "clientMaxProtocol": high,
                       "expectedProtocol": 4, "minimumProbeProtocol": 3}
            await ws.send_message(_error(first["id"], "INVALID_REQUEST", "protocol mismatch", details))
            await ws.aclose(1002, "protocol mismatch")
            return
        if (params.get("auth") or {}).get("token") != TOKEN:
            await ws.send_message(_error(first["id"], "INVALID_REQUEST", "unauthorized: gateway token mismatch"))
            await ws.aclose(1008, "unauthorized: gateway token mismatch")
            return
        scopes = _granted(params)
        await ws.send_message(_res(first["id"], self.hello_ok(params)))
        if "tick_with_profile" in self.faults:
            await ws.send_message(json.dumps({"type": "event", "event": "tick", "payload": {"ts": 2}, "seq": 1,
                                              "recipientProfileId": "profile-1"}))
        while True:
            await ws.send_message(self._answer(json.loads(await ws.get_message()), scopes))

    def _answer(self, request: dict[str, Any], scopes: list[str]) -> str:
        request_id, method = request.get("id"), request.get("method")
        if request_id == "":
            return _error("", "INVALID_REQUEST", "invalid request frame: at /id: must not have fewer than 1 characters")
        if method == "health":
            return _res(request_id, HEALTH)
        needed = "operator.read" if method in READ_METHODS else "operator.admin"
        if not _allows(scopes, needed):
            details = None if "forbidden_without_details" in self.faults else {
                "code": "MISSING_SCOPE", "missingScope": needed, "requiredScopes": [needed]}
            return _error(request_id, "FORBIDDEN", f"missing scope: {needed}", details)
        if method == "status":
            return _res(request_id, STATUS)
        return _error(request_id, "INVALID_REQUEST", f"unknown method: {method}")


class _PortReporter:
    """Passes the bound port to the fake before reporting it started."""

    def __init__(self, fake: FakeGateway4, task_status: Any) -> None:
        self._fake = fake
        self._task_status = task_status

    def started(self, server: Any) -> None:
        self._fake.port = server.port
        self._task_status.started(self._fake)

"""A tiny gateway that gets things wrong on purpose, to prove the conformance checks can fail.

It speaks just enough of the protocol for the harness's probe (challenge, connect → hello-ok, health),
with faults switched on by name:
- ``challenge_seq``: the challenge carries a ``seq``;
- ``hello_protocol_string``: hello-ok's ``protocol`` is the string ``"7"``;
- ``bad_json_kept_open``: a first message that is not JSON is neither answered nor closed;
- ``echo_secret``: an auth failure quotes the token it refused;
- ``double_response``: every request is answered twice.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

TOKEN = "fake-token"
HEALTH = {
    "ok": True, "ts": 1, "durationMs": 0, "channels": {}, "channelOrder": [], "channelLabels": {},
    "heartbeatSeconds": 0, "defaultAgentId": "main", "agents": [],
    "sessions": {"path": "", "count": 0, "recent": []},
}


def hello_ok(protocol: Any) -> dict:
    return {
        "type": "hello-ok", "protocol": protocol,
        "server": {"version": "fake", "connId": str(uuid.uuid4())},
        "features": {"methods": ["health"], "events": ["connect.challenge", "tick"]},
        "snapshot": {"presence": [], "health": {}, "stateVersion": {"presence": 1, "health": 1}, "uptimeMs": 0},
        "policy": {"maxPayload": 524288, "maxBufferedBytes": 1572864, "tickIntervalMs": 30000},
    }


def _error(request_id: str, message: str) -> str:
    return json.dumps({"type": "res", "id": request_id, "ok": False,
                       "error": {"code": "INVALID_REQUEST", "message": message}})


@attrs.define
class FakeGateway:
    faults: frozenset[str]
    port: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve on a free loopback port until cancelled; ``task_status.started(self)`` once bound."""
        await serve_websocket(self._handle, "127.0.0.1", 0, None, task_status=_PortReporter(self, task_status),
                              max_message_size=4 * 1024 * 1024, disconnect_timeout=1)

    async def _handle(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        challenge: dict[str, Any] = {"type": "event", "event": "connect.challenge",
                                     "payload": {"nonce": str(uuid.uuid4()), "ts": 1}}
        if "challenge_seq" in self.faults:
            challenge["seq"] = 1
        try:
            await ws.send_message(json.dumps(challenge))
            await self._serve(ws)
        except ConnectionClosed:
            pass

    async def _serve(self, ws: Any) -> None:
        try:
            first = json.loads(await ws.get_message())
        except ValueError:
            if "bad_json_kept_open" in self.faults:
                await trio.sleep_forever()
            await ws.aclose(1000)
            return
        params = first.get("params") or {}
        if (params.get("auth") or {}).get("token") != TOKEN:
            refused = (params.get("auth") or {}).get("token")
            message = f"unauthorized: token {refused} mismatch" if "echo_secret" in self.faults else "unauthorized"
            await ws.send_message(_error(first["id"], message))
            await ws.aclose(1008, "unauthorized")
            return
        protocol: Any = min(params.get("maxProtocol", 7), 7)
        if "hello_protocol_string" in self.faults:
            protocol = str(protocol)
        await ws.send_message(json.dumps({"type": "res", "id": first["id"], "ok": True,
                                          "payload": hello_ok(protocol)}))
        while True:
            request = json.loads(await ws.get_message())
            if request.get("method") == "health":
                answer = json.dumps({"type": "res", "id": request["id"], "ok": True, "payload": HEALTH})
            else:
                answer = _error(request["id"], f"unknown method: {request.get('method')}")
            for _ in range(2 if "double_response" in self.faults else 1):
                await ws.send_message(answer)


class _PortReporter:
    """Passes the bound port to the fake before reporting it started."""

    def __init__(self, fake: FakeGateway, task_status: Any) -> None:
        self._fake = fake
        self._task_status = task_status

    def started(self, server: Any) -> None:
        self._fake.port = server.port
        self._task_status.started(self._fake)

"""The extension relay (control port + 1): a browser extension lends its tabs, CDP clients drive them.

Wire contract (docs/browser.md has it in full):

* ``GET /`` → ``OK``; ``GET /extension/status`` → ``{"connected": bool}``; ``GET /json/version`` and
  ``GET /json/list`` as Chromium's DevTools endpoint answers them (the debugger URL is this relay's
  ``/cdp``, present only while an extension is connected), for holders of the relay's local token only.
  Loopback peers and a loopback ``Host`` only.
* ``WS /extension``: one extension at a time. It authenticates with the gateway token, as
  ``Authorization: Bearer`` or as its first message ``{"method":"auth","params":{"token":…}}`` (answered
  ``{"method":"auth.ok"}``; a browser extension cannot set headers). Then the relay sends
  ``{"id":N,"method":"forwardCDPCommand","params":{"method","sessionId"?,"params"}}`` and expects
  ``{"id":N,"result":{…}}`` or ``{"id":N,"error":"reason"}``; the extension sends the tabs' CDP events as
  ``{"method":"forwardCDPEvent","params":{"method","sessionId"?,"params"}}``; ``Target.attachedToTarget``
  for a ``page`` makes a tab known, ``Target.detachedFromTarget`` forgets it. Every 5 s the relay sends
  ``{"method":"ping"}`` (``{"method":"pong"}`` is accepted and ignored).
* ``WS /cdp``: plain CDP for clients holding the relay's local token (``Authorization: Bearer``; the
  control service's own ``chrome`` profile). Target discovery and attach are answered by the relay from
  the tabs it knows; everything else is forwarded to the extension with its ``sessionId``, answered
  within 30 s or failed. When the extension goes, every ``/cdp`` client is closed 1011.

This follows the original's relay (same message names), adding the token.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig

from ..gateway.auth import Authenticator, is_loopback
from ..gateway.httpserver import serve
from ..protocol import ProtocolError

log = logging.getLogger("moltbot.browser.relay")

FORWARD_TIMEOUT = 30.0
AUTH_TIMEOUT = 5.0
PING_INTERVAL = 5.0
MAX_MESSAGE = 64 * 1024 * 1024


class _Socket:
    """One accepted ASGI WebSocket: serialised sends, JSON in and out."""

    def __init__(self, receive: Any, send: Any) -> None:
        self._receive, self._send, self._lock = receive, send, trio.Lock()
        self.open = True

    async def send(self, message: dict[str, Any]) -> None:
        if not self.open:
            return
        async with self._lock:
            await self._send({"type": "websocket.send", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any] | None:
        """The next JSON object (non-objects skipped); None once the peer closed."""
        while True:
            event = await self._receive()
            if event["type"] == "websocket.disconnect":
                self.open = False
                return None
            text = event.get("text") or (event.get("bytes") or b"").decode("utf-8", "replace")
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value

    async def close(self, code: int, reason: str = "") -> None:
        if self.open:
            self.open = False
            async with self._lock:
                await self._send({"type": "websocket.close", "code": code, "reason": reason})


class ExtensionRelay:
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        self.local_token = secrets.token_urlsafe(24)  # for our own CDP clients; never leaves the process
        self.url: str | None = None
        self._extension: _Socket | None = None
        self._clients: set[_Socket] = set()
        self._targets: dict[str, dict[str, Any]] = {}  # sessionId → {sessionId, targetId, targetInfo}
        self._pending: dict[int, tuple[trio.Event, list[Any]]] = {}
        self._ids = itertools.count(1)
        self.connected = trio.Event()  # set while an extension is attached (tests wait on it)
        self.tabs_changed = trio.Event()  # set (and replaced) whenever a tab is lent or taken back

    async def serve(self, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = loopback_server_config(port, "moltbot.browser.relay.http")
        config.websocket_max_message_size = MAX_MESSAGE
        config.websocket_ping_interval = None

        relay = self

        class _Started:
            def started(self, binds: list[str]) -> None:
                relay.url = binds[0]
                task_status.started(binds[0])

        await serve(self._asgi, config, task_status=_Started())

    # --- ASGI ---------------------------------------------------------------------------------------

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        peer = (scope.get("client") or ("", 0))[0]
        if scope["type"] == "http":
            foreign = not is_loopback(peer) or not is_loopback(host_of(scope))  # DNS rebinding: a page's Host
            status, body = (403, {"error": "loopback only"}) if foreign else self._http(scope)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            kind = b"text/plain; charset=utf-8" if isinstance(body, str) else b"application/json"
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(data)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": data})
            return
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        path = scope.get("path", "")
        if not is_loopback(peer) or path not in ("/extension", "/cdp"):
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        socket = _Socket(receive, send)
        token = bearer_of(scope)
        if path == "/cdp":
            await self._serve_cdp_client(socket, token)
        else:
            await self._serve_extension(socket, token, peer)

    def _http(self, scope: dict[str, Any]) -> tuple[int, Any]:
        path = scope.get("path", "/")
        if path == "/":
            return 200, "OK"
        if path == "/extension/status":
            return 200, {"connected": self._extension is not None}
        if not self._local_client(bearer_of(scope)):
            return 401, {"error": "unauthorized: the DevTools endpoints need the relay's token"}
        cdp_url = f"ws://{self.url.removeprefix('http://') if self.url else '127.0.0.1'}/cdp"
        if path.rstrip("/") == "/json/version":
            payload = {"Browser": "Moltbot/extension-relay", "Protocol-Version": "1.3"}
            if self._extension is not None:
                payload["webSocketDebuggerUrl"] = cdp_url
            return 200, payload
        if path.rstrip("/") in ("/json", "/json/list"):
            return 200, [
                {
                    "id": t["targetId"],
                    "type": "page",
                    "title": t["targetInfo"].get("title", ""),
                    "url": t["targetInfo"].get("url", ""),
                    "webSocketDebuggerUrl": cdp_url,
                }
                for t in self._targets.values()
            ]
        return 404, "not found"

    def _local_client(self, token: str | None) -> bool:
        return token is not None and secrets.compare_digest(token.encode(), self.local_token.encode())

    # --- the extension --------------------------------------------------------------------------------

    async def _serve_extension(self, socket: _Socket, token: str | None, peer: str) -> None:
        if token is None:
            with trio.move_on_after(AUTH_TIMEOUT):
                first = await socket.receive()
                if first and first.get("method") == "auth" and isinstance(first.get("params"), dict):
                    token = (
                        first["params"].get("token") if isinstance(first["params"].get("token"), str) else ""
                    )
        try:
            self.authenticator.verify(token, peer, direct=True)
        except ProtocolError:
            await socket.close(4401, "unauthorized: send the gateway token")
            return
        if self._extension is not None:
            await socket.close(4409, "an extension is already connected")
            return
        await socket.send({"method": "auth.ok"})
        self._extension = socket
        self.connected.set()
        log.info("browser extension connected to the relay")
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping, socket)
                while (message := await socket.receive()) is not None:
                    self._from_extension(message)
                nursery.cancel_scope.cancel()
        finally:
            await self._extension_gone(socket)

    async def _ping(self, socket: _Socket) -> None:
        while True:
            await trio.sleep(PING_INTERVAL)
            await socket.send({"method": "ping"})

    def _from_extension(self, message: dict[str, Any]) -> None:
        if isinstance(message.get("id"), int):
            waiting = self._pending.get(message["id"])
            if waiting is not None:
                waiting[1].append(message)
                waiting[0].set()
            return
        if message.get("method") != "forwardCDPEvent" or not isinstance(message.get("params"), dict):
            return
        params = message["params"]
        method, event, session = params.get("method"), params.get("params") or {}, params.get("sessionId")
        if not isinstance(method, str):
            return
        if method == "Target.attachedToTarget":
            info = event.get("targetInfo") or {}
            if info.get("type", "page") != "page" or not event.get("sessionId") or not info.get("targetId"):
                return
            self._targets[event["sessionId"]] = {
                "sessionId": event["sessionId"],
                "targetId": info["targetId"],
                "targetInfo": info,
            }
            self._broadcast(
                {"method": "Target.targetCreated", "params": {"targetInfo": {**info, "attached": True}}}
            )
            self._tabs_changed()
        elif method == "Target.detachedFromTarget":
            gone = self._targets.pop(str(event.get("sessionId")), None)
            if gone is not None:
                self._broadcast(
                    {"method": "Target.targetDestroyed", "params": {"targetId": gone["targetId"]}}
                )
                self._tabs_changed()
        elif method == "Target.targetInfoChanged":
            info = event.get("targetInfo") or {}
            for target in self._targets.values():
                if target["targetId"] == info.get("targetId"):
                    target["targetInfo"] = {**target["targetInfo"], **info}
        self._broadcast({"method": method, "params": event, **({"sessionId": session} if session else {})})

    @property
    def tab_count(self) -> int:
        return len(self._targets)

    def _tabs_changed(self) -> None:
        self.tabs_changed.set()
        self.tabs_changed = trio.Event()

    def _broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for client in list(self._clients):
            client.pending_events.append(text)  # type: ignore[attr-defined]
            client.wake.set()  # type: ignore[attr-defined]

    async def _extension_gone(self, socket: _Socket) -> None:
        if self._extension is socket:
            self._extension = None
            self.connected = trio.Event()
            self._targets.clear()
            for done, slot in self._pending.values():
                slot.append({"error": "extension disconnected"})
                done.set()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                for client in list(self._clients):
                    await client.close(1011, "extension disconnected")
            log.info("browser extension disconnected from the relay")

    async def forward(self, method: str, params: dict[str, Any], session_id: str | None) -> dict[str, Any]:
        """One CDP command run by the extension; its ``result`` (raises ``RuntimeError`` with the reason)."""
        extension = self._extension
        if extension is None:
            raise RuntimeError("Extension not connected")
        message_id = next(self._ids)
        done, slot = trio.Event(), list[Any]()
        self._pending[message_id] = (done, slot)
        try:
            inner = {"method": method, "params": params, **({"sessionId": session_id} if session_id else {})}
            await extension.send({"id": message_id, "method": "forwardCDPCommand", "params": inner})
            with trio.move_on_after(FORWARD_TIMEOUT):
                await done.wait()
        finally:
            self._pending.pop(message_id, None)
        if not slot:
            raise RuntimeError(f"extension request timeout: {method}")
        if slot[0].get("error"):
            raise RuntimeError(str(slot[0]["error"])[:300])
        result = slot[0].get("result")
        return result if isinstance(result, dict) else {}

    # --- CDP clients -------------------------------------------------------------------------------------

    async def _serve_cdp_client(self, socket: _Socket, token: str | None) -> None:
        if not self._local_client(token):
            await socket.close(4401, "unauthorized")
            return
        if self._extension is None:
            await socket.close(1013, "Extension not connected")
            return
        socket.pending_events = []  # type: ignore[attr-defined]
        socket.wake = trio.Event()  # type: ignore[attr-defined]
        self._clients.add(socket)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump_events, socket)
                while (command := await socket.receive()) is not None:
                    if isinstance(command.get("id"), int) and isinstance(command.get("method"), str):
                        nursery.start_soon(self._answer_command, socket, command)
                nursery.cancel_scope.cancel()
        finally:
            self._clients.discard(socket)

    async def _pump_events(self, socket: _Socket) -> None:
        while True:
            await socket.wake.wait()  # type: ignore[attr-defined]
            socket.wake = trio.Event()  # type: ignore[attr-defined]
            events, socket.pending_events = socket.pending_events, []  # type: ignore[attr-defined]
            for text in events:
                await socket.send(json.loads(text))

    async def _answer_command(self, socket: _Socket, command: dict[str, Any]) -> None:
        session = command.get("sessionId")
        answer: dict[str, Any] = {"id": command["id"], **({"sessionId": session} if session else {})}
        try:
            answer["result"] = await self._route(command["method"], command.get("params") or {}, session)
        except RuntimeError as exc:
            answer["error"] = {"message": str(exc)}
        await socket.send(answer)

    async def _route(self, method: str, params: dict[str, Any], session: str | None) -> dict[str, Any]:
        pages = list(self._targets.values())
        if method == "Browser.getVersion":
            return {
                "protocolVersion": "1.3",
                "product": "Chrome/Moltbot-Extension-Relay",
                "revision": "0",
                "userAgent": "Moltbot-Extension-Relay",
                "jsVersion": "V8",
            }
        if method in ("Target.setAutoAttach", "Target.setDiscoverTargets", "Browser.setDownloadBehavior"):
            return {}
        if method == "Target.getTargets":
            return {"targetInfos": [{**t["targetInfo"], "attached": True} for t in pages]}
        if method == "Target.getTargetInfo":
            wanted = params.get("targetId")
            match = next((t for t in pages if t["targetId"] == wanted or t["sessionId"] == session), None)
            return {"targetInfo": (match or (pages[0] if pages else {"targetInfo": {}}))["targetInfo"]}
        if method == "Target.attachToTarget":
            match = next((t for t in pages if t["targetId"] == params.get("targetId")), None)
            if match is None:
                raise RuntimeError("target not found")
            return {"sessionId": match["sessionId"]}
        return await self.forward(method, params, session)


def loopback_server_config(port: int, log_name: str) -> HypercornConfig:
    """hypercorn on 127.0.0.1:``port`` (0: any free port), no access log, a quick graceful stop."""
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger(log_name)
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 5.0
    return config


async def serve_lifespan(receive: Any, send: Any) -> None:
    """ASGI lifespan with nothing to set up: startup and shutdown are acknowledged at once."""
    while True:
        event = (await receive())["type"]
        if event == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def host_of(scope: dict[str, Any]) -> str:
    host = next(
        (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "127.0.0.1"
    ).strip()
    return host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]


def bearer_of(scope: dict[str, Any]) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            return rest.strip() or None if scheme.lower() == "bearer" else None
    return None

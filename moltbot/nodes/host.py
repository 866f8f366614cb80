"""A minimal headless node (``moltbot node run``): connects with role ``node``, offers ``system.which`` and
``system.notify``, and answers ``node.invoke.request`` with ``node.invoke.result``.

Theory of operation. ``NodeHost.serve`` loops: connect (signed with the device identity; the stored device
token if there is one, else the shared token), serve invokes until the connection ends, reconnect after
a backoff. "pairing required" is expected the first time a remote node connects: the host says which
request an operator must approve and keeps retrying. A refused stored device token (revoked, rotated) is
dropped and the shared token used instead. Each invoke runs in its own task, so a slow command never
holds up the next request.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from ..client import GatewayClient, GatewayClosed, open_gateway_client
from ..devices.identity import DeviceAuthStore
from ..protocol import NOT_PAIRED, DeviceKeyPair, EventFrame, HelloOk, RemoteProtocolError

log = logging.getLogger("moltbot.nodes")

Handler = Callable[[Any], Awaitable[Any]]


class CommandError(Exception):
    """A command refused its params: answered ``ok:false`` with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Once:
    """Report readiness to ``task_status`` on the first connection only."""

    def __init__(self, task_status: Any) -> None:
        self._task_status = task_status

    def __call__(self, value: Any) -> None:
        if self._task_status is not None:
            self._task_status.started(value)
            self._task_status = None


@attrs.define
class NodeHost:
    """One headless node. ``connected`` is set while a connection is up; ``hello`` is the last hello-ok."""

    url: str
    identity: DeviceKeyPair
    token: str | None = attrs.field(default=None, repr=False)
    auth_store: DeviceAuthStore | None = None
    display_name: str | None = None
    retry_min: float = 0.5
    retry_max: float = 30.0
    extra_headers: list[tuple[str, str]] | None = None
    hello: HelloOk | None = None
    connected: trio.Event = attrs.field(factory=trio.Event)
    pairing_request_id: str | None = None
    notifications: list[dict[str, Any]] = attrs.field(factory=list)
    invokes_answered: int = 0
    commands: dict[str, Handler] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.commands.setdefault("system.which", self._which)
        self.commands.setdefault("system.notify", self._notify)

    @property
    def node_id(self) -> str:
        return self.identity.device_id

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Stay connected until cancelled (reconnecting with backoff); ready once first connected."""
        delay = self.retry_min
        ready = _Once(task_status)
        while True:
            try:
                await self._serve_connection(ready)
                delay = self.retry_min
            except RemoteProtocolError as exc:
                if exc.code == NOT_PAIRED and isinstance(exc.details, dict):
                    self.pairing_request_id = exc.details.get("requestId")
                    log.warning("pairing required: approve request %s on the gateway (moltbot devices approve %s)",
                                self.pairing_request_id, self.pairing_request_id)
                elif exc.message.startswith("unauthorized") and await self._drop_stored_token():
                    log.warning("stored device token refused; retrying with the shared token")
                    continue
                else:
                    log.warning("gateway refused the node: %s: %s", exc.code, exc.message)
            except GatewayClosed as exc:
                log.info("gateway connection ended: %s", exc)
            await trio.sleep(delay)
            delay = min(self.retry_max, delay * 2)

    async def _serve_connection(self, ready: _Once) -> None:
        stored = await self._stored_token()
        async with open_gateway_client(
                self.url, token=stored or self.token, device=self.identity, role="node", client_id="node-host",
                mode="node", display_name=self.display_name, commands=sorted(self.commands),
                caps=["system"], extra_headers=self.extra_headers) as client:
            self.hello = client.hello
            self.pairing_request_id = None
            auth = client.hello.auth
            if auth is not None and auth.device_token is not None and self.auth_store is not None:
                await trio.to_thread.run_sync(self.auth_store.store, self.node_id, "node", auth.device_token,
                                              list(auth.scopes))
            events = client.subscribe()
            self.connected.set()
            ready(client.hello)
            try:
                async with trio.open_nursery() as nursery:
                    async for event in events:
                        if event.event == "node.invoke.request" and isinstance(event.payload, dict):
                            nursery.start_soon(self._answer, client, event)
            finally:
                self.connected = trio.Event()

    async def _stored_token(self) -> str | None:
        if self.auth_store is None:
            return None
        return await trio.to_thread.run_sync(self.auth_store.load, self.node_id, "node")

    async def _drop_stored_token(self) -> bool:
        if self.auth_store is None or not self.token or not await self._stored_token():
            return False
        await trio.to_thread.run_sync(self.auth_store.clear, self.node_id, "node")
        return True

    async def _answer(self, client: GatewayClient, event: EventFrame) -> None:
        request = event.payload
        result: dict[str, Any] = {"id": request.get("id"), "nodeId": self.node_id}
        handler = self.commands.get(request.get("command"))
        try:
            if handler is None:
                raise CommandError("UNAVAILABLE", f"unknown command: {request.get('command')}")
            params = json.loads(request["paramsJSON"]) if request.get("paramsJSON") else None
            payload = await handler(params)
            result.update(ok=True, payloadJSON=json.dumps(payload, separators=(",", ":")))
        except CommandError as exc:
            result.update(ok=False, error={"code": exc.code, "message": exc.message})
        except (ValueError, TypeError) as exc:
            result.update(ok=False, error={"code": "INVALID_REQUEST", "message": str(exc) or "invalid params"})
        try:
            await client.call("node.invoke.result", result)
            self.invokes_answered += 1
        except (GatewayClosed, RemoteProtocolError) as exc:
            log.info("could not deliver the result of %s: %s", request.get("id"), exc)

    @staticmethod
    async def _which(params: Any) -> dict[str, Any]:
        bins = (params or {}).get("bins") if isinstance(params, dict) else None
        if not isinstance(bins, list) or not all(isinstance(b, str) and b for b in bins):
            raise CommandError("INVALID_REQUEST", "bins must be a list of names")
        found = {name: path for name in bins if (path := shutil.which(name))}
        return {"bins": found}

    async def _notify(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict) or not (params.get("title") or params.get("body")):
            raise CommandError("INVALID_REQUEST", "title or body required")
        note = {"title": str(params.get("title") or ""), "body": str(params.get("body") or "")}
        self.notifications.append(note)
        log.info("notification: %s: %s", note["title"], note["body"])
        return {"ok": True}

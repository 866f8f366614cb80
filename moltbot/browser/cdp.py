"""A Chrome DevTools Protocol client on trio-websocket: one browser-level socket, flat sessions per tab.

Theory of operation: ``open_cdp(ws_url)`` opens the browser's ``webSocketDebuggerUrl`` and runs one
reader task in a nursery it owns. ``send(method, params, session_id=…)`` writes ``{id, method, params,
sessionId}`` and waits for the answer with the same ``id``; every other message is an event, handed to the
callbacks registered for its ``sessionId`` (None: browser-level events). Tabs are reached with
``Target.attachToTarget {flatten: true}``, which returns a ``sessionId`` multiplexed on the same socket,
as Playwright and Puppeteer do. When the socket closes, every waiting ``send`` fails with ``CdpError``
and ``closed`` is set, which is how the profile manager notices a browser that went away.

The HTTP side of the DevTools endpoint (``/json/version``) is read with httpx by ``fetch_version``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

log = logging.getLogger("moltbot.browser.cdp")

# Screenshots and PDFs travel base64 in one message: room for a large full-page capture.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0

EventCallback = Callable[[str, dict[str, Any]], None]


class CdpError(Exception):
    """A CDP command failed (the browser's error message) or the connection is gone."""


class CdpConnection:
    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[trio.Event, list[Any]]] = {}
        self._listeners: dict[str | None, list[EventCallback]] = {}
        self.closed = trio.Event()
        self.close_reason = ""

    def on_event(self, session_id: str | None, callback: EventCallback) -> None:
        """Call ``callback(method, params)`` for every event of ``session_id`` (None: the browser's)."""
        self._listeners.setdefault(session_id, []).append(callback)

    def forget_session(self, session_id: str) -> None:
        self._listeners.pop(session_id, None)

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Run one command and return its ``result``.

        Raises:
            CdpError: the browser answered an error, the connection closed, or no answer within ``within``.
        """
        if self.closed.is_set():
            raise CdpError(f"browser connection closed ({self.close_reason})")
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        done, slot = trio.Event(), list[Any]()
        self._pending[message_id] = (done, slot)
        try:
            with trio.move_on_after(within) as scope:
                try:
                    await self._ws.send_message(json.dumps(message))
                except ConnectionClosed as exc:
                    raise CdpError(f"browser connection closed ({exc.reason})") from None
                await done.wait()
            if scope.cancelled_caught:
                raise CdpError(f"{method}: no answer from the browser within {within:g} s")
        finally:
            self._pending.pop(message_id, None)
        answer = slot[0]
        if "error" in answer:
            error = answer["error"]
            text = error.get("message", "error") if isinstance(error, dict) else str(error)
            raise CdpError(f"{method}: {str(text)[:300]}")
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    async def serve_reader(self) -> None:
        """Read until the socket closes; answers go to their ``send``, events to their callbacks."""
        try:
            while True:
                text = await self._ws.get_message()
                try:
                    message = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                if "id" in message:
                    waiting = self._pending.get(message["id"])
                    if waiting is not None:
                        waiting[1].append(message)
                        waiting[0].set()
                    continue
                method = message.get("method")
                if isinstance(method, str):
                    self._dispatch(message.get("sessionId"), method, message.get("params") or {})
        except ConnectionClosed as exc:
            self.close_reason = str(exc.reason)
        finally:
            self._close_pending()

    def _dispatch(self, session_id: str | None, method: str, params: dict[str, Any]) -> None:
        for callback in list(self._listeners.get(session_id, ())):
            try:
                callback(method, params)
            except Exception:  # a listener's bug must not stop the reader (and with it every tab)
                log.exception("CDP event listener failed on %s", method)

    def _close_pending(self) -> None:
        self.close_reason = self.close_reason or "closed"
        self.closed.set()
        for done, slot in self._pending.values():
            slot.append({"error": {"message": f"browser connection closed ({self.close_reason})"}})
            done.set()


@asynccontextmanager
async def open_cdp(
    ws_url: str, *, connect_timeout_s: float = 10.0, headers: dict[str, str] | None = None
) -> AsyncIterator[CdpConnection]:
    """A CDP connection to ``ws_url`` with its reader running; closed when the block ends.

    Raises:
        CdpError: the socket could not be opened within ``connect_timeout_s``.
    """
    entered = False
    try:
        async with open_websocket_url(
            ws_url,
            max_message_size=MAX_MESSAGE_BYTES,
            connect_timeout=connect_timeout_s,
            disconnect_timeout=2,
            extra_headers=[(name.encode(), value.encode()) for name, value in (headers or {}).items()],
        ) as ws:
            entered = True
            async with trio.open_nursery() as nursery:
                connection = CdpConnection(ws)
                nursery.start_soon(connection.serve_reader)
                try:
                    yield connection
                finally:
                    nursery.cancel_scope.cancel()
    except (OSError, HandshakeError, ConnectionTimeout, ConnectionClosed) as exc:
        if entered:
            raise
        raise CdpError(f"cannot open the DevTools socket: {type(exc).__name__}: {str(exc)[:200]}") from None


async def fetch_version(
    client: httpx.AsyncClient, base_url: str, *, within: float = 2.0, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """``GET <base_url>/json/version``: the browser's product and ``webSocketDebuggerUrl``.

    Raises:
        CdpError: not reachable, not JSON, or no debugger URL.
    """
    try:
        response = await client.get(f"{base_url.rstrip('/')}/json/version", timeout=within, headers=headers)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CdpError(f"DevTools endpoint {base_url} not reachable: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not isinstance(data.get("webSocketDebuggerUrl"), str):
        raise CdpError(f"DevTools endpoint {base_url} gave no webSocketDebuggerUrl")
    return data

"""Telegram webhook mode (the original's ``webhookUrl``): a small HTTP server of its own, not on the gateway port.

``POST <webhookPath>`` (default ``/telegram-webhook``) takes one update as JSON; when ``webhookSecret`` is
set the ``X-Telegram-Bot-Api-Secret-Token`` header must match it (else 401; without a secret every
update is refused: the channel does not start webhook mode without one). ``GET /healthz`` answers
``ok``. Updates go through the same offset store as polling, so a redelivered update is handled once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio

from ...protocol import RemoteProtocolError, parse_json

log = logging.getLogger("moltbot.channels.telegram")

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8787
DEFAULT_PATH = "/telegram-webhook"
MAX_BODY = 1024 * 1024
REQUEST_DEADLINE = 30.0

Handler = Callable[[dict[str, Any]], Awaitable[None]]


async def _read_request(conn: h11.Connection, stream: trio.SocketStream) -> tuple[h11.Request, bytes] | None:
    request: h11.Request | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
            if len(body) > MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request, body
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _secret_matches(supplied: bytes, secret: str) -> bool:
    """The header's bytes against the secret, as digests: constant time whatever either holds (a header
    that is not ASCII cannot make ``compare_digest`` raise)."""
    return bool(supplied) and hmac.compare_digest(hashlib.sha256(supplied).digest(),
                                                  hashlib.sha256(secret.encode()).digest())


async def _respond(conn: h11.Connection, stream: trio.SocketStream, status: int, text: str) -> None:
    data = text.encode()
    await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
        ("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(data))),
        ("connection", "close")])))
    await stream.send_all(conn.send(h11.Data(data=data)))
    await stream.send_all(conn.send(h11.EndOfMessage()))


def make_handler(path: str, secret: str | None, handle: Handler) -> Callable[[trio.SocketStream], Awaitable[None]]:
    async def serve_connection(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            with trio.move_on_after(REQUEST_DEADLINE):
                received = await _read_request(conn, stream)
                if received is None:
                    return
                request, body = received
                target = request.target.decode().split("?", 1)[0]
                method = request.method.decode()
                if method == "GET" and target == "/healthz":
                    await _respond(conn, stream, 200, "ok")
                elif method != "POST" or target != path:
                    await _respond(conn, stream, 404, "not found")
                elif not secret or not _secret_matches(
                        dict(request.headers).get(b"x-telegram-bot-api-secret-token", b""), secret):
                    await _respond(conn, stream, 401, "unauthorized")
                else:
                    try:
                        update = parse_json(body)
                    except RemoteProtocolError:  # not JSON, or past the frames' nesting/number limits
                        await _respond(conn, stream, 400, "bad json")
                        return
                    if isinstance(update, dict):
                        await handle(update)
                    await _respond(conn, stream, 200, "ok")
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            with trio.move_on_after(1) as cleanup:
                cleanup.shield = True
                await stream.aclose()

    return serve_connection


async def serve_webhook(path: str, secret: str | None, handle: Handler, *, host: str = DEFAULT_HOST,
                        port: int = DEFAULT_PORT, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve the webhook until cancelled; ``task_status.started(bound_port)`` once listening."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, make_handler(path, secret, handle), listeners)
        task_status.started(bound)

"""A fake Telegram Bot API: ``POST /bot<token>/<method>`` with JSON bodies and Bot API JSON replies.

    async with open_fake_telegram() as fake:
        bot = fake.bot("123:abc")          # one bot per token
        bot.push_message(chat_id=42, user_id=42, text="hi")
        ... (point ``apiRoot`` at fake.url) ...
        await bot.wait_sent(1); bot.sent[0]["text"]

``getUpdates`` long-polls like Telegram: it returns queued updates with ``update_id >= offset`` at once,
otherwise waits up to ``timeout`` seconds for one. A newer ``getUpdates`` for the same bot while one is
in flight ends the older one with 409 "terminated by other getUpdates request" and counts a conflict
(what two pollers for one token see). ``bot.fail(method, status, description, retry_after)`` scripts
the next reply of ``method`` as an error; ``bot.stall_polls = True`` makes ``getUpdates`` hang silently.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio
import trio.testing

from . import _receive_request

CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


@attrs.define(eq=False)
class FakeBot:
    token: str
    bot_id: int
    username: str
    updates: list[dict[str, Any]] = attrs.field(factory=list)
    sent: list[dict[str, Any]] = attrs.field(factory=list)
    calls: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)
    failures: dict[str, deque[tuple[int, str, float | None]]] = attrs.field(factory=dict)
    conflicts: int = 0
    stall_polls: bool = False  # getUpdates holds the connection open and never answers (a dead socket)
    polls_in_flight: int = 0
    max_polls_in_flight: int = 0
    changed: trio.Event = attrs.field(factory=trio.Event)
    _next_update: int = 1
    _next_message: int = 100
    _current_poll: trio.CancelScope | None = None

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def push_message(self, *, chat_id: int, user_id: int, text: str, chat_type: str = "private",
                     username: str | None = None, thread_id: int | None = None,
                     is_forum: bool = False) -> int:
        """Queue an incoming text message; returns its update_id."""
        update_id = self._next_update
        self._next_update += 1
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if is_forum:
            chat["is_forum"] = True
        message: dict[str, Any] = {"message_id": 1000 + update_id, "date": 1700000000, "chat": chat, "text": text,
                                   "from": {"id": user_id, "is_bot": False, "first_name": "User",
                                            **({"username": username} if username else {})}}
        if thread_id is not None:
            message["message_thread_id"] = thread_id
        self.updates.append({"update_id": update_id, "message": message})
        self._changed()
        return update_id

    def fail(self, method: str, status: int, description: str, retry_after: float | None = None) -> None:
        self.failures.setdefault(method, deque()).append((status, description, retry_after))

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        return [body for name, body in self.calls if name == method]

    async def wait_for(self, predicate) -> None:
        while not predicate():
            await self.changed.wait()

    async def wait_sent(self, count: int) -> None:
        await self.wait_for(lambda: len(self.sent) >= count)

    # --- the API --------------------------------------------------------------------------------

    async def answer(self, method: str, body: dict[str, Any], disconnected: trio.Event) -> tuple[int, dict]:
        self.calls.append((method, body))
        self._changed()
        failures = self.failures.get(method)
        if failures:
            status, description, retry_after = failures.popleft()
            error: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if retry_after is not None:
                error["parameters"] = {"retry_after": retry_after}
            return status, error
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": self.bot_id, "is_bot": True, "first_name": "Test Bot",
                                                "username": self.username}}
        if method == "getUpdates":
            return await self._get_updates(body, disconnected)
        if method == "sendMessage":
            message_id = self._next_message
            self._next_message += 1
            self.sent.append(body)
            self._changed()
            return 200, {"ok": True, "result": {"message_id": message_id, "date": 1700000000,
                                                "chat": {"id": body.get("chat_id")}, "text": body.get("text")}}
        if method in ("setWebhook", "deleteWebhook"):
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    async def _get_updates(self, body: dict[str, Any], disconnected: trio.Event) -> tuple[int, dict]:
        offset = body.get("offset") or 0
        self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed ones are gone
        if self._current_poll is not None:
            # Let an older poll whose client already hung up notice it, before calling this a conflict.
            await trio.testing.wait_all_tasks_blocked(0.01)
        if self._current_poll is not None:
            self.conflicts += 1
            self._current_poll.cancel()
        self.polls_in_flight += 1
        self.max_polls_in_flight = max(self.max_polls_in_flight, self.polls_in_flight)
        try:
            with trio.CancelScope() as scope:
                self._current_poll = scope
                while self.stall_polls and not disconnected.is_set():
                    await self.changed.wait()
                with trio.move_on_after(float(body.get("timeout") or 0)):
                    while not self.updates and not disconnected.is_set():
                        await self.changed.wait()
                    return 200, {"ok": True, "result": list(self.updates)}
                return 200, {"ok": True, "result": []}
            return 409, {"ok": False, "error_code": 409, "description": CONFLICT}
        finally:
            self.polls_in_flight -= 1
            if self._current_poll is scope:
                self._current_poll = None
            self._changed()


class FakeTelegram:
    def __init__(self) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bot(self, token: str, username: str | None = None) -> FakeBot:
        if token not in self.bots:
            bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1000 + len(self.bots)
            self.bots[token] = FakeBot(token, bot_id, username or f"bot{bot_id}_bot")
        return self.bots[token]

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _receive_request(conn, stream)
                if request is None:
                    return
                status, body = await self._dispatch(request, stream)
                data = json.dumps(body).encode()
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(data)))])))
                await stream.send_all(conn.send(h11.Data(data=data)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            await stream.aclose()

    async def _dispatch(self, request, stream: trio.SocketStream) -> tuple[int, dict]:
        _, _, rest = request.path.partition("/bot")
        token, _, method = rest.rpartition("/")
        bot = self.bots.get(token)
        if bot is None:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        body = json.loads(request.body or b"{}")
        disconnected = trio.Event()
        async with trio.open_nursery() as nursery:
            async def watch() -> None:  # a long poll ends when its client goes away
                try:
                    while await stream.receive_some(65536):
                        pass
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
                disconnected.set()
                bot._changed()

            if method == "getUpdates":
                nursery.start_soon(watch)
            try:
                return await bot.answer(method, body, disconnected)
            finally:
                nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, fake.handle, 0, host="127.0.0.1"))
        fake.port = listeners[0].socket.getsockname()[1]
        yield fake
        nursery.cancel_scope.cancel()

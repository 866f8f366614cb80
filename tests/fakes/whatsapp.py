"""A fake WhatsApp Web backend behind the bridge's ``WhatsAppClient`` boundary.

It behaves like the neonize client seen from the bridge: ``connect`` blocks on its own thread until
``stop``, shows a QR when the auth dir holds no session and reports ``Connected`` when it does, and
delivers events through ``emit`` on that thread. The test drives it with actions queued to the running
client (``scan``, ``push_text``) and reads what the channel sent. The "session" is a small JSON file in
the auth dir, so the production code's file handling (permissions, logout deleting it) is exercised.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import trio

from moltbot.channels.whatsapp.bridge import (
    DB_NAME,
    Connected,
    Disconnected,
    IncomingText,
    PairSuccess,
    QrCode,
    WhatsAppClientError,
    WhatsAppEvent,
)

PHONE = "4915112345678"
SELF_JID = f"{PHONE}@s.whatsapp.net"
SELF_LID = "99887766554433@lid"
QR_CODE = "2@fakeref,fakenoisekey,fakeidentitykey,fakeadvsecret"


def link(auth_dir: Path, jid: str = SELF_JID) -> None:
    """Store a linked session in ``auth_dir`` (as a finished QR login would)."""
    auth_dir.mkdir(parents=True, exist_ok=True)
    (auth_dir / DB_NAME).write_text(json.dumps({"jid": jid}))


class FakeClient:
    def __init__(self, backend: FakeWhatsApp, auth_dir: Path, name: str) -> None:
        self.backend = backend
        self.auth_dir = auth_dir
        self.name = name
        self.actions: queue.Queue[Callable[[Callable[[WhatsAppEvent], None]], None] | None] = queue.Queue()
        self.linked_at_connect: str | None = None
        self.running = False

    def connect(self, emit: Callable[[WhatsAppEvent], None]) -> None:
        backend = self.backend
        with backend.lock:
            backend.active += 1
            self.running = True
        try:
            if backend.unreachable:
                raise WhatsAppClientError(backend.unreachable)
            self.linked_at_connect = backend.linked(self.auth_dir)
            if backend.hang:
                pass  # a blackholed network: nothing happens until stop
            elif self.linked_at_connect is None:
                emit(QrCode(QR_CODE))
            else:
                emit(Connected(jid=self.linked_at_connect, lid=SELF_LID, push_name="Molt"))
            while True:
                action = self.actions.get(timeout=60)  # bounded: a leaked client ends by itself
                if action is None:
                    return
                action(emit)
        finally:
            with backend.lock:
                backend.active -= 1
                self.running = False

    def stop(self) -> None:
        self.actions.put(None)

    def send_text(self, jid: str, text: str) -> str:
        if self.backend.send_error:
            raise WhatsAppClientError(self.backend.send_error)
        try:  # as neonize's protobuf message does (its error becomes a WhatsAppClientError there too)
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise WhatsAppClientError(str(exc)) from None
        with self.backend.lock:
            self.backend.sent.append((jid, text))
            return f"3EB0{next(self.backend.ids):08d}"

    def logout(self) -> None:
        with self.backend.lock:
            self.backend.logouts += 1


class FakeWhatsApp:
    """The backend: makes ``FakeClient``s and records what they sent."""

    name = "fake"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: list[FakeClient] = []
        self.sent: list[tuple[str, str]] = []
        self.logouts = 0
        self.active = 0  # connect calls running right now
        self.unreachable: str | None = None  # connect fails with this error
        self.hang = False  # connect never connects (until stopped)
        self.send_error: str | None = None
        self.ids = itertools.count(1)

    # --- the WhatsAppBackend protocol (called on worker threads) ---

    def unavailable_reason(self) -> str | None:
        return None

    def linked(self, auth_dir: Path) -> str | None:
        try:
            return json.loads((auth_dir / DB_NAME).read_text())["jid"]
        except (OSError, ValueError, KeyError):
            return None

    def client(self, auth_dir: Path, *, name: str) -> FakeClient:
        client = FakeClient(self, auth_dir, name)
        with self.lock:
            self.clients.append(client)
        return client

    # --- test controls (called from the test's Trio thread; never block) ---

    def _running(self, *, linked: bool) -> FakeClient:
        with self.lock:
            for client in reversed(self.clients):
                if client.running and (client.linked_at_connect is not None) == linked:
                    return client
        raise AssertionError(f"no running {'linked' if linked else 'login'} client")

    def scan(self, jid: str = SELF_JID) -> None:
        """The phone scans the QR: the session is stored, pairing succeeds, the client connects."""
        client = self._running(linked=False)

        def paired(emit: Callable[[WhatsAppEvent], None]) -> None:
            link(client.auth_dir, jid)
            emit(PairSuccess(jid))
            emit(Connected(jid=jid, lid=SELF_LID))

        client.actions.put(paired)

    def drop(self) -> None:
        """The running client's socket drops and does not come back."""
        client = self._running(linked=True)
        client.actions.put(lambda emit: emit(Disconnected()))

    def push_text(self, text: str, *, sender: str = "4917012345678@s.whatsapp.net", chat: str | None = None,
                  group: bool = False, mentions: tuple[str, ...] = (), from_me: bool = False,
                  quoted_sender: str | None = None) -> None:
        client = self._running(linked=True)
        event = IncomingText(id=f"MSG{next(self.ids)}", chat=chat or sender, sender=sender, text=text,
                             from_me=from_me, is_group=group, push_name="Alice", mentions=mentions,
                             quoted_sender=quoted_sender)
        client.actions.put(lambda emit: emit(event))

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Poll ``predicate`` (the caller's ``fail_after`` bounds it)."""
        while not predicate():  # noqa: ASYNC110 (state set on the client's thread)
            await trio.sleep(0.01)

    async def wait_sent(self, count: int) -> None:
        await self.wait_for(lambda: len(self.sent) >= count)

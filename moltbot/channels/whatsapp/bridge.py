"""The thread boundary: a blocking WhatsApp Web client driven from Trio.

A ``WhatsAppClient`` is blocking (neonize wraps whatsmeow, a Go library whose ``connect`` only returns
once ``stop`` is called). ``open_bridge`` runs its ``connect`` on a worker thread owned by the caller's
nursery and brings the client's callbacks (fired on Go's threads) back into Trio through a memory channel,
as plain event objects. Leaving the ``async with`` closes the channel (releasing any callback blocked on
it), calls ``stop`` and waits, bounded by ``STOP_TIMEOUT``, for ``connect`` to return: no thread is left
running in the normal case, and the gateway never waits forever in the abnormal one.

``BACKEND`` is the factory of clients the channel uses; tests swap it for a fake (tests/fakes/whatsapp.py)
so that everything above this boundary is the production code path.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import attrs
import trio

log = logging.getLogger("moltbot.channels.whatsapp")

NEONIZE_VERSION = "0.5.2"  # pinned: another version's native library is downloaded at import time
DB_NAME = "session.db"  # whatsmeow's sqlite store inside the account's auth dir
STOP_TIMEOUT = 5.0  # how long leaving a bridge waits for ``connect`` to return after ``stop``
EVENT_BUFFER = 64


class WhatsAppClientError(Exception):
    """The client failed (could not connect, send or log out); the message is safe to show."""


# --- events (from the client's threads into Trio) ---------------------------------------------------

@attrs.frozen
class QrCode:
    """A pairing QR payload to show the user (the server rotates them; the newest wins)."""

    code: str


@attrs.frozen
class PairSuccess:
    jid: str


@attrs.frozen
class PairFailure:
    error: str


@attrs.frozen
class Connected:
    """The session is open; ``jid``/``lid`` are this linked device's own ids."""

    jid: str | None = None
    lid: str | None = None
    push_name: str | None = None


@attrs.frozen
class Disconnected:
    """The socket dropped; the client reconnects by itself and sends ``Connected`` again."""

    reason: str = "disconnected"


@attrs.frozen
class LoggedOut:
    """The phone removed this linked device (or the session was rejected): the creds are dead."""

    reason: str


@attrs.frozen
class Failure:
    """A fatal condition the client reported (stream replaced, temporary ban, client outdated …)."""

    error: str


@attrs.frozen
class IncomingText:
    """A text message (or a media caption), already flattened from the client's protobufs."""

    id: str
    chat: str  # JID: <number>@s.whatsapp.net, <id>@g.us, <id>@lid
    sender: str  # JID of the author
    text: str
    from_me: bool = False
    is_group: bool = False
    push_name: str | None = None
    sender_alt: str | None = None  # the author's other id (phone JID when addressed by LID, or the reverse)
    mentions: tuple[str, ...] = ()  # JIDs mentioned in the message
    quoted_sender: str | None = None  # author of the message this one replies to
    timestamp: int | None = None


@attrs.frozen
class Closed:
    """``connect`` returned: ``error`` is why (None after ``stop``)."""

    error: str | None = None


WhatsAppEvent = QrCode | PairSuccess | PairFailure | Connected | Disconnected | LoggedOut | Failure | IncomingText | Closed


# --- the boundary -------------------------------------------------------------------------------------

class WhatsAppClient(Protocol):
    """One linked-device session. Every method blocks and is called on a worker thread."""

    def connect(self, emit: Callable[[WhatsAppEvent], None]) -> None:
        """Connect (showing QR codes when not linked) and block until ``stop``; raise
        ``WhatsAppClientError`` when the connection cannot be made. ``emit`` is thread-safe."""

    def stop(self) -> None:
        """Make a running ``connect`` return soon; must not block."""

    def send_text(self, jid: str, text: str) -> str:
        """Send one text message; return its message id."""

    def logout(self) -> None:
        """Unlink this device on the server (the phone's Linked Devices list)."""


class WhatsAppBackend(Protocol):
    """Makes clients; answers questions about stored sessions. Every method blocks."""

    name: str

    def unavailable_reason(self) -> str | None:
        """Why no client can be made in this process (None when one can)."""

    def linked(self, auth_dir: Path) -> str | None:
        """The stored session's own JID, or None when ``auth_dir`` holds no linked device."""

    def client(self, auth_dir: Path, *, name: str) -> WhatsAppClient:
        """A client on the session stored in ``auth_dir`` (a fresh one pairs by QR)."""


# --- the bridge -----------------------------------------------------------------------------------------

class Bridge:
    """A running client seen from Trio: its events, and its blocking calls run on worker threads."""

    def __init__(self, client: WhatsAppClient, events: trio.MemoryReceiveChannel[WhatsAppEvent],
                 finished: trio.Event) -> None:
        self.client = client
        self.events = events
        self.finished = finished  # set once ``connect`` has returned

    async def send_text(self, jid: str, text: str, *, seconds: float) -> str:
        """Send on a worker thread; raises ``WhatsAppClientError`` (also after ``seconds``).

        A lone UTF-16 surrogate (from a client's ``"\\ud800"``) becomes U+FFFD, as a JavaScript
        ``TextEncoder`` writes it: WhatsApp messages are UTF-8 protobuf strings, which cannot hold one."""
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        try:
            with trio.fail_after(seconds):
                return await trio.to_thread.run_sync(self.client.send_text, jid, text, abandon_on_cancel=True)
        except trio.TooSlowError:
            raise WhatsAppClientError(f"send timed out after {seconds:g}s") from None

    async def logout(self, *, seconds: float) -> None:
        try:
            with trio.fail_after(seconds):
                await trio.to_thread.run_sync(self.client.logout, abandon_on_cancel=True)
        except trio.TooSlowError:
            raise WhatsAppClientError(f"logout timed out after {seconds:g}s") from None


@asynccontextmanager
async def open_bridge(client: WhatsAppClient, *, stop_timeout: float | None = None) -> AsyncIterator[Bridge]:
    """Run ``client.connect`` on a worker thread until the block is left; yield its events.

    Owns one worker thread (its own capacity limiter, so a long-lived connection never takes a slot of
    the shared ``to_thread`` pool). The last event is always ``Closed``.
    """
    send, receive = trio.open_memory_channel[WhatsAppEvent](EVENT_BUFFER)
    token = trio.lowlevel.current_trio_token()
    finished = trio.Event()

    def emit(event: WhatsAppEvent) -> None:
        # Called on the client's threads. Blocks while the buffer is full (backpressure on the client);
        # once the bridge is left the channel is closed, so a late event is dropped instead of hanging.
        try:
            trio.from_thread.run(send.send, event, trio_token=token)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.RunFinishedError, trio.Cancelled):
            log.debug("whatsapp event dropped after the bridge closed: %s", type(event).__name__)

    def run_connect() -> None:
        try:
            client.connect(emit)
            result = Closed(None)
        except WhatsAppClientError as exc:
            result = Closed(str(exc) or "connection closed")
        except Exception as exc:  # a bug or an unexpected library error: reported, not raised on a thread
            log.exception("whatsapp client crashed")
            result = Closed(f"{type(exc).__name__}: {exc}")
        try:
            emit(result)
        finally:
            try:
                token.run_sync_soon(finish)
            except trio.RunFinishedError:
                pass

    def finish() -> None:
        send.close()  # the consumer's ``async for`` ends after ``Closed``
        finished.set()

    async def connect_task() -> None:
        await trio.to_thread.run_sync(run_connect, abandon_on_cancel=True, limiter=trio.CapacityLimiter(1))

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connect_task)
            try:
                yield Bridge(client, receive, finished)
            finally:
                with trio.CancelScope(shield=True):
                    await receive.aclose()
                    timeout = STOP_TIMEOUT if stop_timeout is None else stop_timeout
                    with trio.move_on_after(timeout) as bounded:
                        if not finished.is_set():
                            await trio.to_thread.run_sync(client.stop, abandon_on_cancel=True)
                        await finished.wait()
                    if bounded.cancelled_caught:
                        log.warning("whatsapp client did not stop within %gs; its thread is abandoned", timeout)
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The connect task never raises, so a group holds the body's one exception: hand it on as is.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


# --- the backend registry ----------------------------------------------------------------------------------

_names = itertools.count(1)


def client_name(account_id: str, purpose: str) -> str:
    """A process-unique client name (neonize keys its Go-side state by it)."""
    return f"moltbot-whatsapp-{account_id}-{purpose}-{next(_names)}"


BACKEND: WhatsAppBackend | None = None  # None: the neonize backend, made on first use


def backend() -> WhatsAppBackend:
    global BACKEND
    if BACKEND is None:
        from .neonize_backend import NeonizeBackend

        BACKEND = NeonizeBackend()
    return BACKEND


def jid_user(jid: str) -> str:
    """``4917012345678:12@s.whatsapp.net`` → ``4917012345678`` (device and agent suffixes dropped)."""
    return jid.partition("@")[0].partition(":")[0].partition(".")[0]


def jid_to_e164(jid: str | None) -> str | None:
    """The ``+<number>`` of a phone JID; None for groups, LIDs and other servers."""
    if not jid or "@" not in jid:
        return None
    server = jid.rpartition("@")[2]
    user = jid_user(jid)
    if server in ("s.whatsapp.net", "c.us") and user.isdigit():
        return f"+{user}"
    return None

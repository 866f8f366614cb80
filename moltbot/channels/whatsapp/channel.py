"""One WhatsApp Web linked-device account as a channel: connect, inbound, send, logout.

The session (whatsmeow's sqlite store) lives in ``<stateDir>/credentials/whatsapp/<accountId>/`` (dir
0700, files 0600) or the account's ``authDir``. ``serve`` connects with the stored session and reports
ready on ``Connected``; without a session it stops at once with ``lastError`` saying how to link (no
retry, no hang), and a connection that cannot be made within ``CONNECT_TIMEOUT`` fails with the reason,
so the manager's backoff is the reconnect loop. Short drops while connected are reconnected by the client
itself (``Disconnected`` … ``Connected``); one not healed within ``RECONNECT_WATCHDOG`` ends the run so
the manager starts a fresh client.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import attrs
import trio

from ...store.atomic import ensure_dir
from ...store.ids import is_account_id
from ..base import (
    AccountStatus,
    ChannelError,
    ChannelUnavailable,
    DeliveryError,
    InboundMessage,
    Inbox,
    wall_ms,
)
from . import bridge
from .bridge import (
    Bridge,
    Closed,
    Connected,
    Disconnected,
    Failure,
    IncomingText,
    LoggedOut,
    QrCode,
    WhatsAppClientError,
    WhatsAppEvent,
    client_name,
    jid_to_e164,
    jid_user,
    open_bridge,
)

log = logging.getLogger("moltbot.channels.whatsapp")

NOT_LINKED = "not linked: run web.login.start / moltbot channels login"
CONNECT_TIMEOUT = 30.0
SEND_TIMEOUT = 30.0
LOGOUT_TIMEOUT = 15.0
# The client reconnects by itself after a drop; if it has not within this time, the manager starts a
# fresh one (the original's failures: a listener left deaf after a disconnect, reconnects that give up).
RECONNECT_WATCHDOG = 120.0

_SERVERS = {"s.whatsapp.net", "g.us", "lid", "broadcast", "newsletter"}
_JID_USER = re.compile(r"^[0-9]+(-[0-9]+)?(:[0-9]+)?$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def resolve_auth_dir(state_dir: Path | None, account_id: str, account: Any) -> Path | None:
    """``authDir`` if set, else ``<stateDir>/credentials/whatsapp/<accountId>``; None without either, or when
    ``accountId`` cannot name a directory there (``store/ids.py``: a ``../`` id would name, and logout
    delete, a directory outside it)."""
    if getattr(account, "auth_dir", None):
        return Path(account.auth_dir).expanduser()
    if state_dir is None or not is_account_id(account_id):
        return None
    return state_dir / "credentials" / "whatsapp" / account_id


def secure_auth_dir(path: Path) -> None:
    """Create ``path`` 0700 and make every file in it 0600 (blocking)."""
    ensure_dir(path)  # its parents too (credentials/, a state dir made again) 0700
    os.chmod(path, 0o700)
    for child in path.iterdir():
        if child.is_file():
            os.chmod(child, 0o600)


def remove_auth_dir(path: Path) -> bool:
    """Delete the stored session (blocking); True if there was one (an empty dir is not a session)."""
    if not path.exists():
        return False
    had_files = any(path.iterdir())
    shutil.rmtree(path)
    return had_files


def normalize_target(target: str) -> str:
    """An E.164 number (``+49 170 1234567``, ``0049…``) or a JID → a JID; ``DeliveryError`` otherwise."""
    text = target.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:"):].strip()
    if "@" in text:
        user, _, server = text.rpartition("@")
        server = "s.whatsapp.net" if server == "c.us" else server.lower()
        if server in _SERVERS and _JID_USER.match(user):
            return f"{user}@{server}"
        raise DeliveryError(f"invalid WhatsApp target {target!r}: not a known JID (…@s.whatsapp.net, …@g.us, …@lid)")
    number = _PHONE_NOISE.sub("", text)
    if number.startswith("00"):
        number = "+" + number[2:]
    digits = number.removeprefix("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise DeliveryError(f"invalid WhatsApp target {target!r}: expected an E.164 number (+4917012345678) "
                            "or a JID (…@s.whatsapp.net, …@g.us)")
    return f"{digits}@s.whatsapp.net"


def normalize_allow_entry(entry: Any) -> str:
    """An ``allowFrom`` entry as senders are named: ``4917…``/``+49 170 …`` → ``+4917…``; ``*`` and JIDs kept."""
    text = str(entry).strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:"):].strip()
    if text == "*" or "@" in text:
        return text
    number = _PHONE_NOISE.sub("", text)
    number = "+" + number[2:] if number.startswith("00") else number
    digits = number.removeprefix("+")
    return f"+{digits}" if digits.isdigit() else text


class WhatsAppChannel:
    channel = "whatsapp"

    def __init__(self, account_id: str, account: Any, status: AccountStatus, *, state_dir: Path | None = None) -> None:
        self.account_id = account_id
        # Policy checks read ``self.account``: its allowFrom in the form senders arrive in (+E.164).
        self.account = attrs.evolve(account, allow_from=[normalize_allow_entry(e) for e in account.allow_from])
        self.status = status
        self.text_chunk_limit = max(1, account.text_chunk_limit or 4000)
        self.auth_dir = resolve_auth_dir(state_dir, account_id, account)
        self.self_jid: str | None = None
        self.self_lid: str | None = None
        self._bridge: Bridge | None = None
        self._reconnect_deadline = math.inf  # while disconnected: when to give up on the client's own reconnect

    async def serve(self, inbox: Inbox, *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.auth_dir is None:
            raise ChannelUnavailable("no state directory for the WhatsApp session (set authDir)")
        backend = bridge.backend()
        reason = await trio.to_thread.run_sync(backend.unavailable_reason)
        if reason:
            raise ChannelUnavailable(reason)
        await trio.to_thread.run_sync(secure_auth_dir, self.auth_dir)
        me = await trio.to_thread.run_sync(backend.linked, self.auth_dir)
        self.status.linked = me is not None
        if me is None:
            raise ChannelUnavailable(NOT_LINKED)
        self._set_self(me, None)
        client = await trio.to_thread.run_sync(functools.partial(
            backend.client, self.auth_dir, name=client_name(self.account_id, "run")))
        async with open_bridge(client) as session:
            early: list[IncomingText] = []
            first = await self._until_connected(session, early)
            self._bridge = session
            try:
                self._connected(first)
                task_status.started()
                for text in early:
                    await self._handle(text, inbox)
                while True:
                    with trio.move_on_at(self._reconnect_deadline) as watchdog:
                        try:
                            event = await session.events.receive()
                        except trio.EndOfChannel:
                            break
                    if watchdog.cancelled_caught:
                        raise ChannelError(f"disconnected for {RECONNECT_WATCHDOG:g}s without reconnecting; "
                                           "restarting the client")
                    await self._handle(event, inbox)
            finally:
                self._bridge = None
                self.status.connected = False
        raise ChannelError("WhatsApp Web connection closed")

    async def _until_connected(self, session: Bridge, early: list[IncomingText]) -> Connected:
        """The first ``Connected``, within ``CONNECT_TIMEOUT``; the reason otherwise. Messages that
        arrive before it are kept in ``early``."""
        with trio.move_on_after(CONNECT_TIMEOUT):
            async for event in session.events:
                if isinstance(event, Connected):
                    return event
                if isinstance(event, IncomingText):
                    early.append(event)
                await self._fatal(event)
            raise ChannelError("cannot reach WhatsApp Web: connection closed")
        raise ChannelError(f"cannot reach WhatsApp Web: not connected after {CONNECT_TIMEOUT:g}s")

    async def _fatal(self, event: WhatsAppEvent) -> None:
        """Raise for the events that end a session (in any state); ignore the rest."""
        if isinstance(event, Closed):
            raise ChannelError(f"cannot reach WhatsApp Web: {event.error}" if event.error
                               else "WhatsApp Web connection closed")
        if isinstance(event, (LoggedOut, QrCode)):
            why = event.reason if isinstance(event, LoggedOut) else "the stored session was not accepted"
            self.status.linked = False
            if self.auth_dir is not None:
                await trio.to_thread.run_sync(remove_auth_dir, self.auth_dir)
            raise ChannelUnavailable(f"logged out ({why}); {NOT_LINKED}")
        if isinstance(event, Failure):
            raise ChannelError(f"WhatsApp Web: {event.error}")

    def _set_self(self, jid: str | None, lid: str | None) -> None:
        self.self_jid, self.self_lid = jid or self.self_jid, lid or self.self_lid
        if self.self_jid:
            self.status.self_id = {"e164": jid_to_e164(self.self_jid), "jid": self.self_jid}

    def _connected(self, event: Connected) -> None:
        self._set_self(event.jid, event.lid)
        self.status.connected = True
        self.status.linked = True
        self.status.last_connected_at = wall_ms()
        self.status.last_error = None
        self._reconnect_deadline = math.inf

    async def _handle(self, event: WhatsAppEvent, inbox: Inbox) -> None:
        self.status.last_transport_activity_at = wall_ms()  # liveness: the client's keepalive reports drops
        if isinstance(event, IncomingText):
            try:
                message = self.to_inbound(event)
            except Exception as exc:  # one unreadable message is dead-lettered; the account goes on
                await inbox.reject("whatsapp", self.account_id, f"message:{event.id}",
                                   f"unreadable message: {type(exc).__name__}: {exc}"[:300])
                return
            if message is not None:
                self.status.last_inbound_at = wall_ms()
                await inbox.send(message)
        elif isinstance(event, Connected):
            self._connected(event)
        elif isinstance(event, Disconnected):
            self.status.connected = False
            self.status.last_error = f"{event.reason}; reconnecting"
            if self._reconnect_deadline == math.inf:
                self._reconnect_deadline = trio.current_time() + RECONNECT_WATCHDOG
        else:
            await self._fatal(event)

    def _mentioned(self, event: IncomingText) -> bool:
        mine = {jid_user(j) for j in (self.self_jid, self.self_lid) if j}
        if any(jid_user(m) in mine for m in event.mentions):
            return True
        if event.quoted_sender and jid_user(event.quoted_sender) in mine:
            return True
        return any(f"@{user}" in event.text for user in mine)

    def to_inbound(self, event: IncomingText) -> InboundMessage | None:
        """An ``InboundMessage``; None for our own messages and empty text."""
        if event.from_me or not event.text.strip():
            return None
        sender_e164 = jid_to_e164(event.sender) or jid_to_e164(event.sender_alt)
        sender = sender_e164 or event.sender
        if event.is_group:
            chat, chat_type, mentioned = event.chat, "group", self._mentioned(event)
        else:
            chat, chat_type, mentioned = jid_to_e164(event.chat) or sender, "direct", False
        return InboundMessage(channel="whatsapp", account_id=self.account_id, sender_id=sender, chat_id=chat,
                              text=event.text, chat_type=chat_type, message_id=event.id or None,
                              mentioned=mentioned, sender_name=event.push_name)

    async def send(self, target: str, text: str, *, reply_to: str | None = None) -> str:
        """Send one message (chunked by the outbox) to an E.164 number or JID; its message id. A bad
        target is a permanent ``DeliveryError``, a client error is not."""
        session = self._bridge
        if session is None or not self.status.connected:
            raise DeliveryError(f"whatsapp account {self.account_id} is not connected")
        try:
            jid = normalize_target(target)
        except DeliveryError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        try:
            message_id = await session.send_text(jid, text, seconds=SEND_TIMEOUT)
        except WhatsAppClientError as exc:
            raise DeliveryError(f"whatsapp send to {target} failed: {exc}") from None
        self.status.last_outbound_at = wall_ms()
        return message_id or ""

    async def logout(self) -> bool:
        """Unlink this device on the server while connected; False when that was not possible."""
        session = self._bridge
        if session is None or not self.status.connected:
            return False
        try:
            await session.logout(seconds=LOGOUT_TIMEOUT)
        except WhatsAppClientError as exc:
            log.warning("whatsapp:%s server logout failed: %s", self.account_id, exc)
            return False
        return True

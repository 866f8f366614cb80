"""The channel contract: what the manager supervises, and the status it reports.

A channel account is an object with ``serve(inbox, *, task_status)``: it connects, reports readiness with
``task_status.started()`` once connected, pushes every inbound message into ``inbox`` and runs until
cancelled (or raises, and the manager restarts it with backoff). ``send(target, text)`` delivers a reply
through the same account and returns the platform's message id. Status lives in an ``AccountStatus`` the
manager owns and the channel updates (connected, lastInboundAt …).
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs
import trio

from .._backoff import Backoff as Backoff  # the one Backoff (moltbot/_backoff.py), still importable here
from .._util import wall_ms as wall_ms  # the one wall clock (moltbot/_util.py), still importable here


class ChannelError(Exception):
    """A channel could not start or deliver; the message is safe to show to an operator."""


class ChannelUnavailable(ChannelError):
    """The account cannot run in this build or configuration; the manager does not retry it."""


class DeliveryError(ChannelError):
    """An outbound message was not delivered.

    ``permanent``: retrying cannot help (no such chat, bot blocked, bad target, account not configured),
    so the outbox dead-letters the message; otherwise it retries, not before ``retry_after`` seconds.
    ``unsure``: the platform may have the message all the same (a timeout or a connection lost after the
    request went out), so the row stays in doubt until an attempt's outcome is known."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 unsure: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.unsure = unsure


@attrs.frozen
class InboundMessage:
    """One message from a channel, already normalised for policy checks and routing."""

    channel: str
    account_id: str
    sender_id: str
    chat_id: str
    text: str
    chat_type: str = "direct"  # direct | group
    thread_id: str | None = None
    message_id: str | None = None
    mentioned: bool = False
    sender_name: str | None = None
    guild_id: str | None = None  # Discord: the guild (server) a channel message came from
    team_id: str | None = None  # Slack workspace (``bindings[].match.teamId``)

    @property
    def dedupe_key(self) -> str | None:
        """What identifies this message on its account (message ids are per chat on Telegram)."""
        return f"{self.chat_id}/{self.message_id}" if self.message_id else None

    @property
    def reply_target(self) -> str:
        """Where a reply goes: ``<chatId>`` or ``<chatId>:topic:<threadId>``."""
        return f"{self.chat_id}:topic:{self.thread_id}" if self.thread_id else self.chat_id


@attrs.define
class AccountStatus:
    """The runtime snapshot of one channel account (reference ``channels.status`` AccountSnapshot)."""

    account_id: str
    name: str | None = None
    enabled: bool = True
    configured: bool = False
    linked: bool | None = None
    running: bool = False
    connected: bool = False
    reconnect_attempts: int = 0
    last_connected_at: int | None = None
    last_error: str | None = None
    last_start_at: int | None = None
    last_stop_at: int | None = None
    last_inbound_at: int | None = None
    last_outbound_at: int | None = None
    mode: str | None = None
    port: int | None = None
    dm_policy: str | None = None
    allow_from: list[str] | None = None
    token_source: str | None = None
    self_id: dict[str, Any] | None = None  # WhatsApp: this linked device's own {e164, jid}
    last_transport_activity_at: int | None = None  # the platform's last response (liveness)
    stalled_since: int | None = None  # set while the account is "stalled" (channels/liveness.py)

    def snapshot(self) -> dict[str, Any]:
        names = {"account_id": "accountId", "reconnect_attempts": "reconnectAttempts",
                 "last_connected_at": "lastConnectedAt", "last_error": "lastError",
                 "last_start_at": "lastStartAt", "last_stop_at": "lastStopAt",
                 "last_inbound_at": "lastInboundAt", "last_outbound_at": "lastOutboundAt",
                 "dm_policy": "dmPolicy", "allow_from": "allowFrom", "token_source": "tokenSource", "self_id": "self",
                 "last_transport_activity_at": "lastTransportActivityAt", "stalled_since": "stalledSince"}
        out: dict[str, Any] = {}
        for field in attrs.fields(AccountStatus):
            value = getattr(self, field.name)
            if value is not None:
                out[names.get(field.name, field.name)] = value
        return out


class Inbox(Protocol):
    """Where a channel hands inbound messages (the manager's ``InboundGate``).

    ``send`` returns once the message is durably received (or known as a duplicate): only then may the
    channel acknowledge it to the platform (Telegram's offset). ``reject`` dead-letters one that could not
    be parsed, under the platform's id for it, so the channel acknowledges it and goes on. ``send_many``
is ``send`` for a batch (one store transaction for its receipts)."""

    async def send(self, message: InboundMessage) -> None: ...

    async def send_many(self, messages: list[InboundMessage]) -> None: ...

    async def reject(self, channel: str, account_id: str, message_key: str, reason: str) -> None: ...


class ChannelAccount(Protocol):
    """One running account of one channel (``telegram:default``).

    ``send`` delivers one piece of at most ``text_chunk_limit`` characters (the outbox chunks) and returns
    the platform's message id; it raises ``DeliveryError`` (``permanent`` when a retry cannot help)."""

    channel: str
    account_id: str
    text_chunk_limit: int

    async def serve(self, inbox: Inbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None: ...

    async def send(self, target: str, text: str, *, reply_to: str | None = None) -> str: ...



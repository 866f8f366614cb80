"""The WhatsApp channel slot: configured accounts fail to start with a clear status.

The reference runs a Baileys (WhatsApp Web) linked-device session; this build has no WhatsApp Web
client, so a configured account reports ``lastError`` instead of pretending to be linked.
"""

from __future__ import annotations

from typing import Any

import trio

from ..base import AccountStatus, ChannelUnavailable, DeliveryError, InboundMessage

UNAVAILABLE_MESSAGE = "WhatsApp Web client not available in this build"


class WhatsAppChannel:
    channel = "whatsapp"

    def __init__(self, account_id: str, account: Any, status: AccountStatus) -> None:
        self.account_id = account_id
        self.account = account
        self.status = status
        self.text_chunk_limit = account.text_chunk_limit or 4000

    async def serve(self, inbox: trio.MemorySendChannel[InboundMessage], *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise ChannelUnavailable(UNAVAILABLE_MESSAGE)

    async def send(self, target: str, text: str, *, reply_to: str | None = None) -> str:
        raise DeliveryError(UNAVAILABLE_MESSAGE)

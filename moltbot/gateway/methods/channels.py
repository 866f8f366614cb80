"""``channels.status``, ``channels.logout``, ``send``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...channels.manager import CHANNEL_ORDER, SUPERVISED
from ...protocol import INVALID_REQUEST, ProtocolError
from ...protocol._payloads.channels import ChannelsLogoutParams, ChannelsStatusParams, SendParams

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime


async def channels_status(runtime: Runtime, connection: Connection, params: ChannelsStatusParams) -> dict[str, Any]:
    return runtime.channels.status_payload()


async def channels_logout(runtime: Runtime, connection: Connection, params: ChannelsLogoutParams) -> dict[str, Any]:
    """Stop the account and forget its polling state. The bot token stays in the config file (this build
    does not rewrite config), so ``cleared`` is false; the account stays stopped until the next restart."""
    channel = params.channel.strip().lower()
    if channel not in CHANNEL_ORDER:
        raise ProtocolError(INVALID_REQUEST, f"unsupported channel: {params.channel}")
    account_id = params.account_id or "default"
    if channel not in SUPERVISED:
        return {"channel": channel, "accountId": account_id, "cleared": False, "loggedOut": False}
    stopped = await runtime.channels.stop_account(channel, account_id, "channels.logout")
    result: dict[str, Any] = {"channel": channel, "accountId": account_id, "cleared": False, "loggedOut": stopped}
    if channel == "telegram":
        result["envToken"] = bool(runtime.gateway.env.get("TELEGRAM_BOT_TOKEN"))
    return result


async def send(runtime: Runtime, connection: Connection, params: SendParams) -> dict[str, Any]:
    if params.media_url or params.media_urls:
        raise ProtocolError(INVALID_REQUEST, "media sends are not supported by this build")
    channel = (params.channel or "whatsapp").strip().lower()
    return await runtime.channels.send(f"send:{params.idempotency_key}", channel, params.account_id,
                                       params.to.strip(), params.message)

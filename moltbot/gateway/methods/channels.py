"""``channels.status``, ``channels.logout``, ``send``, ``web.login.start``, ``web.login.wait``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ...channels.manager import CHANNEL_ORDER, SUPERVISED
from ...channels.whatsapp.login import LoginError
from ...config.load import update_config_file
from ...protocol import (
    INVALID_REQUEST,
    UNAVAILABLE,
    ChannelsLogoutParams,
    ChannelsStatusParams,
    ProtocolError,
    SendParams,
    WebLoginStartParams,
    WebLoginWaitParams,
)

if TYPE_CHECKING:
    from ..connection import Connection
    from ..runtime import Runtime


async def channels_status(runtime: Runtime, connection: Connection, params: ChannelsStatusParams) -> dict[str, Any]:
    probes = None
    if params.probe:
        timeout_ms = max(1000, params.timeout_ms if params.timeout_ms is not None else 10_000)
        probes = await runtime.channels.probe(timeout_ms / 1000)
    return runtime.channels.status_payload(probes)


async def channels_logout(runtime: Runtime, connection: Connection, params: ChannelsLogoutParams) -> dict[str, Any]:
    """Stop the account, then remove its ``botToken`` from the config file (the reference's logout).

    A token from ``tokenFile`` or ``TELEGRAM_BOT_TOKEN`` is not touched (``envToken`` says so); the next
    reload or restart starts the account again only if a token is still configured.
    """
    channel = params.channel.strip().lower()
    if channel not in CHANNEL_ORDER:
        raise ProtocolError(INVALID_REQUEST, f"unsupported channel: {params.channel}")
    account_id = params.account_id or "default"
    if channel not in SUPERVISED:
        return {"channel": channel, "accountId": account_id, "cleared": False, "loggedOut": False}
    if channel == "whatsapp":
        try:
            return await runtime.channels.whatsapp_logins.logout(account_id)
        except LoginError as exc:
            raise ProtocolError(UNAVAILABLE, str(exc)) from None
    stopped = await runtime.channels.stop_account(channel, account_id, "channels.logout")
    cleared = False
    if channel in TOKEN_KEYS and runtime.config.path is not None:
        async with runtime.gateway.config_lock:  # not interleaved with a config.set/patch/apply write
            cleared = await trio.to_thread.run_sync(_clear_bot_token, runtime.config.path, channel, account_id)
    result: dict[str, Any] = {"channel": channel, "accountId": account_id, "cleared": cleared,
                              "loggedOut": stopped or cleared}
    if channel in TOKEN_KEYS:
        result["envToken"] = bool(runtime.env.get(f"{channel.upper()}_BOT_TOKEN"))
    return result


TOKEN_KEYS = {"telegram": "botToken", "discord": "token"}  # what logout removes from the config file


def _clear_bot_token(path: Path, channel: str, account_id: str) -> bool:
    removed: list[bool] = []

    def change(raw: dict[str, Any]) -> None:
        section = (raw.get("channels") or {}).get(channel)
        if not isinstance(section, dict):
            return
        accounts = section.get("accounts")
        block = accounts.get(account_id) if isinstance(accounts, dict) and accounts else (
            section if account_id == "default" else None)
        if isinstance(block, dict) and block.pop(TOKEN_KEYS[channel], None) is not None:
            removed.append(True)

    if not path.exists():
        return False
    update_config_file(path, change)
    return bool(removed)


async def send(runtime: Runtime, connection: Connection, params: SendParams) -> dict[str, Any]:
    if params.media_url or params.media_urls:
        raise ProtocolError(INVALID_REQUEST, "media sends are not supported by this build")
    channel = (params.channel or "whatsapp").strip().lower()
    return await runtime.channels.send(f"send:{params.idempotency_key}", channel, params.account_id,
                                       params.to.strip(), params.message)


async def web_login_start(runtime: Runtime, connection: Connection, params: WebLoginStartParams) -> dict[str, Any]:
    """Stop the WhatsApp account and show a pairing QR (``{qrDataUrl, message}``; message only if linked)."""
    try:
        return await runtime.channels.whatsapp_logins.start(
            (params.account_id or "default").strip() or "default", force=bool(params.force),
            timeout_ms=params.timeout_ms)
    except LoginError as exc:
        raise ProtocolError(UNAVAILABLE, str(exc)) from None


async def web_login_wait(runtime: Runtime, connection: Connection, params: WebLoginWaitParams) -> dict[str, Any]:
    """Wait for the QR scan; on ``connected: true`` the account has been (re)started."""
    return await runtime.channels.whatsapp_logins.wait((params.account_id or "default").strip() or "default",
                                                       timeout_ms=params.timeout_ms)

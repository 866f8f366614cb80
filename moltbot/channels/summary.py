"""Channel summaries for ``health``, ``status`` and ``channels.status``, in the original's shapes.

A channel's summary is its default account's fields plus every account under ``accounts``; a
linked-device channel (WhatsApp) adds ``linked``/``authAgeMs``, and the first channel that does is the
``linkChannel`` (as in the original's ``resolveLinkChannelContext``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import LinkChannel
from .base import wall_ms
from .whatsapp.channel import resolve_auth_dir

if TYPE_CHECKING:
    from .manager import ChannelManager

CHANNEL_ORDER = ("telegram", "whatsapp", "discord", "slack", "webchat")  # the original's order
OPTIONAL = ("discord", "slack")  # listed only when configured, as today's plugin channels
LABELS = {"telegram": "Telegram", "whatsapp": "WhatsApp", "discord": "Discord", "slack": "Slack",
          "webchat": "WebChat"}
# The original's channel registry (``src/channels/registry.ts``): longer labels and the macOS app's SF Symbols.
DETAIL_LABELS = {"telegram": "Telegram Bot", "whatsapp": "WhatsApp Web", "discord": "Discord Bot",
                 "slack": "Slack Bot", "webchat": "WebChat"}
SYSTEM_IMAGES = {"telegram": "paperplane", "whatsapp": "message", "discord": "bubble.left.and.bubble.right",
                 "slack": "number"}

SUMMARY_KEYS = ("accountId", "name", "enabled", "configured", "linked", "authAgeMs", "running", "connected",
                "lastError", "probe", "lastProbeAt", "mode", "tokenSource", "healthState", "reconnectAttempts",
                "stalledSince", "pending", "deadLetters", "inboundDeadLetters")


def channel_order(manager: ChannelManager) -> list[str]:
    """The channels ``status``/``health`` list: the core ones always, an optional one once configured."""
    return [c for c in CHANNEL_ORDER if c not in OPTIONAL or manager.account_configs(c)]


def _state(row: dict[str, Any]) -> str:
    if row.get("connected"):
        return "connected"
    if row.get("healthState") == "stalled" and row.get("lastError"):  # the health warning (still retried)
        return f"error: {row['lastError']} (stalled after {row.get('reconnectAttempts')} attempts; retrying)"
    if row.get("healthState") == "reconnecting" and row.get("lastError"):
        return f"error: {row['lastError']} (reconnecting, attempt {row.get('reconnectAttempts')})"
    if row.get("enabled") is False and row.get("lastError") in (None, "disabled"):
        return "disabled"
    if not row.get("configured"):
        return "not configured"
    if row.get("lastError"):
        return f"error: {row['lastError']}"
    return "starting" if row.get("running") else "stopped"


def channel_summary(manager: ChannelManager, channel: str) -> dict[str, Any]:
    """One channel's health summary, in the original's shape: its default account's fields, every account
    under ``accounts``, and ``linked``/``authAgeMs`` for a linked-device channel (WhatsApp)."""
    rows = manager.accounts(channel)
    for row in rows:
        if channel == "whatsapp":  # the channel's own status wins over what the credentials suggest
            row.update({k: v for k, v in web_auth(manager, row["accountId"]).items() if k not in row})
            row.setdefault("linked", False)
    first = next((r for r in rows if r["accountId"] == "default"), rows[0])
    out: dict[str, Any] = {
        "accountId": first["accountId"], "configured": any(r.get("configured") for r in rows),
        "running": any(r.get("running") for r in rows), "connected": any(r.get("connected") for r in rows)}
    error = next((r["lastError"] for r in rows if r.get("lastError")), None)
    if error:
        out["lastError"] = error
    if channel == "whatsapp":
        out["linked"] = bool(first.get("linked"))
        out["authAgeMs"] = first.get("authAgeMs")
    out["accounts"] = {r["accountId"]: {k: v for k, v in r.items() if k in SUMMARY_KEYS} for r in rows}
    return out


def web_auth(manager: ChannelManager, account_id: str) -> dict[str, Any]:
    """``linked``/``authAgeMs`` of a WhatsApp account from its credentials directory (the original
    reads its creds file the same way): linked when the directory holds files, age from the newest."""
    section = manager.account_configs("whatsapp").get(account_id)
    folder = resolve_auth_dir(manager.runtime.config.state_dir, account_id, section)
    if folder is None:
        return {}
    try:
        newest = max((entry.stat().st_mtime for entry in folder.iterdir() if entry.is_file()), default=None)
    except OSError:
        newest = None
    if newest is None:
        return {"linked": False, "authAgeMs": None}
    return {"linked": True, "authAgeMs": max(0, wall_ms() - int(newest * 1000))}


def link_channel(manager: ChannelManager) -> LinkChannel | None:
    """The first channel whose summary says whether it is ``linked`` (the original's linkChannel)."""
    for channel in channel_order(manager):
        state = channel_summary(manager, channel)
        if isinstance(state.get("linked"), bool):
            return LinkChannel(id=channel, label=LABELS[channel], linked=state["linked"],
                               auth_age_ms=state.get("authAgeMs"))
    return None


def summary_lines(manager: ChannelManager) -> list[str]:
    """``status``'s ``channelSummary``: one line per channel (and per account when there are several)."""
    lines = []
    for channel in channel_order(manager):
        rows = manager.accounts(channel)
        for row in rows:
            label = LABELS[channel] if len(rows) == 1 else f"{LABELS[channel]} ({row['accountId']})"
            lines.append(f"{label}: {_state(row)}")
    return lines

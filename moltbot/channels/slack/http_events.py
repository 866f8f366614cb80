"""Slack HTTP Events mode: the ``webhookPath`` route (default ``/slack/events``) on the gateway's port.

Every request is checked before anything in it is believed, as Slack documents: ``X-Slack-Signature`` is
``v0=`` + hex HMAC-SHA256, keyed by the app's signing secret, over ``v0:<X-Slack-Request-Timestamp>:<raw
body>``; compared in constant time; a timestamp more than ``MAX_SKEW_SECONDS`` (5 minutes) from now is
refused (a replayed request). The body is read up to ``MAX_BODY`` bytes. Fail closed: an account in
``mode: http`` without ``signingSecret`` refuses every request (503 naming the key), it never accepts
unsigned ones. A signed ``url_verification`` is answered with its ``challenge``; a signed
``event_callback`` goes to the account (``SlackChannel.receive``), which returns once it is durably
received, and is answered 200. While the account is not running the answer is 503, so Slack retries
(``X-Slack-Retry-Num``); a retry of an event already received is dropped by the receipts.

``signature_ok`` is the check on its own (pure), for tests and other transports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from quart import Response, request

from ..base import DeliveryError
from .channel import SlackChannel, body_key

if TYPE_CHECKING:
    from ..manager import ChannelManager

log = logging.getLogger("moltbot.channels.slack")

MAX_BODY = 1024 * 1024
MAX_SKEW_SECONDS = 300
TEXT = "text/plain; charset=utf-8"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_ok(secret: str, timestamp: str | None, signature: str | None, body: bytes, *,
                 now: float | None = None) -> str | None:
    """None when the request is Slack's, else what is wrong (bounded, safe to show)."""
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    try:
        stamp = int(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a number"
    if abs((time.time() if now is None else now) - stamp) > MAX_SKEW_SECONDS:
        return "stale request (timestamp more than 5 minutes from now)"
    expected = sign(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape")):
        return "signature mismatch"
    return None


def claimed(channels: ChannelManager, path: str) -> tuple[str, Any] | None:
    """The Slack account (id, config) in HTTP mode whose ``webhookPath`` is ``path``, if any."""
    for account_id, account in channels.account_configs("slack").items():
        if account.enabled and account.mode == "http" and "/" + account.webhook_path.strip("/") == path:
            return account_id, account
    return None


def _answer(status: int, text: str) -> Response:
    return Response(text, status=status, content_type=TEXT)


async def _body() -> bytes | None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.body:
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


async def handle_slack_events(channels: ChannelManager, path: str) -> Response | None:
    """Answer a request to a Slack account's ``webhookPath``; None when no account claims ``path``."""
    found = claimed(channels, path)
    if found is None:
        return None
    account_id, account = found
    if request.method != "POST":
        return Response("Method Not Allowed", status=405, headers={"Allow": "POST"}, content_type=TEXT)
    if not account.signing_secret:
        log.warning("slack:%s refused an events request: channels.slack.signingSecret is not set", account_id)
        return _answer(503, "slack events are refused: channels.slack.signingSecret is not set")
    body = await _body()
    if body is None:
        response = _answer(413, f"payload too large: the limit is {MAX_BODY} bytes")
        response.headers["Connection"] = "close"
        return response
    problem = signature_ok(account.signing_secret, request.headers.get("x-slack-request-timestamp"),
                           request.headers.get("x-slack-signature"), body)
    if problem is not None:
        log.warning("slack:%s refused an events request: %s", account_id, problem)
        return _answer(401, f"unauthorized: {problem}")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        return _answer(200, challenge[:4096] if isinstance(challenge, str) else "")
    slot = channels.slots.get(("slack", account_id))
    channel = slot.account if slot is not None else None
    if not isinstance(channel, SlackChannel) or not channel.accepting:
        return _answer(503, "slack account is not running yet")
    try:
        await channel.receive(payload, body_key(body))
    except DeliveryError:  # the account stopped meanwhile: Slack sends it again
        return _answer(503, "slack account is not running")
    return _answer(200, "ok")

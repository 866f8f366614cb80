"""The Slack Web API over httpx: ``POST <apiRoot>/<method>`` with a JSON body and a bearer token.

Errors are mapped once, here. Slack answers most failures with HTTP 200 and ``{"ok": false, "error":
"<code>"}``; rate limits with HTTP 429 and a ``Retry-After`` header (seconds); outages with 5xx. Each
becomes a ``SlackApiError`` that says whether a retry can help: a 429, a 5xx, a network failure and the
few codes Slack documents as passing (``ratelimited``, ``internal_error``, ``fatal_error``,
``service_unavailable``, ``request_timeout``) are transient; every other code (``channel_not_found``,
``not_in_channel``, ``invalid_auth``, ``msg_too_long``…) is permanent, so the outbox dead-letters it
instead of retrying for a day. Tokens travel only in the ``Authorization`` header: never in a URL, a log
line or an error message.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..._tls import client_ssl_context
from ...protocol import dumps

DEFAULT_API_ROOT = "https://slack.com/api"
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})
MAX_ERROR_TEXT = 200


class SlackError(Exception):
    """A Web API call failed; ``permanent`` when repeating it cannot help."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.code = code


class SlackApiError(SlackError):
    pass


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class SlackApi:
    """One token's Web API client. Use as ``async with SlackApi(token, root) as api``: one connection pool."""

    def __init__(self, token: str, api_root: str | None = None, *, timeout: float = 30.0) -> None:
        self._token = token
        self._base = (api_root or DEFAULT_API_ROOT).rstrip("/") + "/"
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0), verify=client_ssl_context(),
                                         headers={"authorization": f"Bearer {token}",
                                                  "content-type": "application/json; charset=utf-8"})

    async def __aenter__(self) -> SlackApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``method``; the answer's body when ``ok``, else a ``SlackApiError``."""
        try:
            # Encoded by ``dumps``: httpx's ``json=`` raises on a lone surrogate in an agent's reply.
            response = await self._client.post(self._base + method, content=dumps(params or {}).encode())
        except httpx.HTTPError as exc:
            raise SlackApiError(self.redact(f"slack {method}: {type(exc).__name__}: {exc}")[:MAX_ERROR_TEXT]) from None
        if response.status_code == 429:
            raise SlackApiError(f"slack {method}: rate limited (429)", retry_after=_retry_after(response) or 1.0,
                                code="ratelimited")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 500 or not isinstance(body, dict):
            raise SlackApiError(f"slack {method}: HTTP {response.status_code}",
                                permanent=400 <= response.status_code < 500 and response.status_code != 408)
        if body.get("ok") is True:
            return body
        code = str(body.get("error") or "unknown_error")[:80]
        raise SlackApiError(self.redact(f"slack {method}: {code}"), permanent=code not in TRANSIENT_ERRORS,
                            retry_after=_retry_after(response), code=code)

    async def auth_test(self) -> dict[str, Any]:
        return await self.call("auth.test")

    async def open_connection(self) -> str:
        """``apps.connections.open`` (app-level token): a single-use Socket Mode WebSocket URL."""
        body = await self.call("apps.connections.open")
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("wss://", "ws://")):
            raise SlackApiError("slack apps.connections.open: no WebSocket URL in the answer")
        return url

    async def post_message(self, channel: str, text: str, *, thread_ts: str | None = None,
                           metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"channel": channel, "text": text, "mrkdwn": True}
        if thread_ts:
            params["thread_ts"] = thread_ts
        if metadata:
            params["metadata"] = metadata
        return await self.call("chat.postMessage", params)

    async def recent_messages(self, channel: str, *, oldest: str, thread_ts: str | None = None,
                              limit: int = 200) -> list[dict[str, Any]]:
        """One page of a channel's (or a thread's) messages since ``oldest``, with their metadata."""
        params: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": limit, "include_all_metadata": True}
        if thread_ts:
            params["ts"] = thread_ts
        body = await self.call("conversations.replies" if thread_ts else "conversations.history", params)
        messages = body.get("messages")
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

"""The Telegram Bot API over httpx: ``POST <apiRoot>/bot<token>/<method>`` with a JSON body.

Errors are mapped once, here: ``{"ok": false, "error_code", "description", "parameters"}`` becomes a
``TelegramApiError`` (409 ``TelegramConflict``, 429 carries ``retry_after``); transport failures become
``TelegramNetworkError``. The token is part of every URL, so URLs and httpx exceptions are never logged
or shown as they are: messages go through ``redact``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from ..._tls import client_ssl_context
from ...protocol import dumps

DEFAULT_API_ROOT = "https://api.telegram.org"
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+/")
_JSON = {"content-type": "application/json"}


class _RedactBotTokens(logging.Filter):
    """httpx logs every request URL at INFO; a Bot API URL carries the token, so rewrite it first."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = _TOKEN_IN_URL.sub("/bot<token>/", message), None
        return True


_REDACT = _RedactBotTokens()
_open_clients = 0  # TelegramApi blocks running: the filter is on httpx's logger only while one is


def _redact_httpx_logs(on: bool) -> None:
    """Install the filter with the first open client, remove it with the last: importing this module (or
    embedding a gateway without Telegram) leaves the process's logging as it was."""
    global _open_clients
    _open_clients += 1 if on else -1
    if on and _open_clients == 1:
        logging.getLogger("httpx").addFilter(_REDACT)
    elif not on and _open_clients == 0:
        logging.getLogger("httpx").removeFilter(_REDACT)


class TelegramError(Exception):
    pass


class TelegramNetworkError(TelegramError):
    pass


class TelegramApiError(TelegramError):
    def __init__(self, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"telegram {status}: {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after


class TelegramConflict(TelegramApiError):
    """409: another getUpdates (or a webhook) holds this bot."""


class TelegramApi:
    """One bot's API client. Use as ``async with TelegramApi(token, root) as api``: one connection pool."""

    def __init__(self, token: str, api_root: str | None = None, *, timeout: float = 30.0,
                 proxy: str | None = None) -> None:
        self._token = token
        self._base = f"{(api_root or DEFAULT_API_ROOT).rstrip('/')}/bot{token}/"
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0), proxy=proxy or None,
                                         verify=client_ssl_context())

    async def __aenter__(self) -> TelegramApi:
        _redact_httpx_logs(True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._client.aclose()
        finally:
            _redact_httpx_logs(False)

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   read_timeout: float | None = None) -> Any:
        """Call ``method``; return ``result`` or raise a ``TelegramError``."""
        extra: dict[str, Any] = {} if read_timeout is None else {"timeout": httpx.Timeout(read_timeout, connect=10.0)}
        try:
            # Encoded by ``dumps``: httpx's ``json=`` raises on a lone surrogate in an agent's reply.
            response = await self._client.post(self._base + method, content=dumps(params or {}).encode(),
                                               headers=_JSON, **extra)
        except httpx.HTTPError as exc:
            raise TelegramNetworkError(self.redact(f"{method}: {type(exc).__name__}: {exc}")) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and isinstance(body, dict) and body.get("ok"):
            return body.get("result")
        body = body if isinstance(body, dict) else {}
        status = int(body.get("error_code") or response.status_code)
        description = self.redact(str(body.get("description") or response.reason_phrase or "error"))
        parameters = body.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        error = TelegramConflict if status == 409 else TelegramApiError
        raise error(status, description, float(retry_after) if retry_after is not None else None)

    async def get_me(self) -> dict[str, Any]:
        return await self.call("getMe")

    async def get_updates(self, offset: int | None, poll_seconds: float,
                          allowed_updates: list[str]) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"timeout": poll_seconds, "allowed_updates": allowed_updates}
        if offset is not None:
            params["offset"] = offset
        return await self.call("getUpdates", params, read_timeout=poll_seconds + 15.0)

    async def send_message(self, chat_id: str, text: str, *, thread_id: int | None = None,
                           reply_to: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id,
                                  "text": text}
        if thread_id is not None:
            params["message_thread_id"] = thread_id
        if reply_to is not None:
            params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        return await self.call("sendMessage", params)

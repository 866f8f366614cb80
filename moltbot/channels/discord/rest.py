"""The Discord HTTP API over httpx, with its rate-limit buckets honoured.

Theory of operation: every request carries ``Authorization: Bot <token>`` (a header, never the URL, so
httpx's request log shows no secret). Discord limits requests per *bucket*: a route (method + path with
its ids, except the "major" one — channel, guild or webhook id — which keeps its own bucket) maps to a
bucket hash (``X-RateLimit-Bucket``), and each response says how many requests are left in it
(``X-RateLimit-Remaining``) and when it refills (``X-RateLimit-Reset-After``, seconds). A request whose
bucket is empty waits for the refill first; so does every request while a *global* limit is in force. A
429 carries ``retry_after`` (seconds, in the JSON body; ``global`` when it is the global limit): the
request is retried after it, up to ``MAX_429_RETRIES`` times, when the wait is at most ``INLINE_WAIT``;
a longer wait raises ``DiscordRateLimited`` so the outbox retries the message later instead of holding
a send slot. Errors are mapped once, here: ``{"message", "code"}`` bodies become ``DiscordApiError``
(status, Discord's JSON error code), transport failures ``DiscordNetworkError``.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import httpx
import trio

from ..._tls import client_ssl_context
from ...protocol import dumps

DEFAULT_API_BASE = "https://discord.com/api/v10"
USER_AGENT = "DiscordBot (https://github.com/moltbot/moltbot, 1.0) moltbot"
INLINE_WAIT = 5.0  # a rate-limit wait up to this long happens inside the request; longer → the outbox
MAX_429_RETRIES = 3
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_JSON = {"content-type": "application/json"}
_ID = re.compile(r"/\d{5,}")
_MAJOR = re.compile(r"^/(channels|guilds|webhooks)/(\d+)")


class DiscordError(Exception):
    pass


class DiscordNetworkError(DiscordError):
    pass


class DiscordApiError(DiscordError):
    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(f"discord {status}: {message}" + (f" (code {code})" if code else ""))
        self.status = status
        self.code = code


class DiscordRateLimited(DiscordError):
    def __init__(self, retry_after: float, scope: str) -> None:
        super().__init__(f"discord rate limited ({scope}); retry in {retry_after:.1f}s")
        self.retry_after = retry_after


@attrs.define
class Bucket:
    remaining: int | None = None  # None: not known yet (no response seen)
    reset_at: float = 0.0  # trio time at which ``remaining`` refills


def route_key(method: str, path: str) -> str:
    """``POST /channels/123/messages`` keeps its channel id (a major parameter); other ids → ``{id}``."""
    major = _MAJOR.match(path)
    head = major.group(0) if major else ""
    return f"{method} {head}{_ID.sub('/{id}', path[len(head) :])}"


class DiscordRest:
    """One bot's API client. Use as ``async with DiscordRest(token, api_base)``: one connection pool."""

    def __init__(self, token: str, api_base: str | None = None, *, timeout: float = 30.0) -> None:
        self._token = token
        self.base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=10.0),
            verify=client_ssl_context(),
            headers={"authorization": f"Bot {token}", "user-agent": USER_AGENT},
        )
        self._bucket_of: dict[str, str] = {}  # route → bucket hash (learned from responses)
        self._buckets: dict[str, Bucket] = {}
        self._global_until = 0.0
        self.rate_limited = 0  # 429s seen (statistics, tests)

    async def __aenter__(self) -> DiscordRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    def _bucket(self, route: str) -> Bucket:
        key = self._bucket_of.get(route, route)
        major = _MAJOR.match(route.split(" ", 1)[1])
        if key != route and major:  # a shared bucket hash is still per major parameter
            key = f"{key}:{major.group(2)}"
        return self._buckets.setdefault(key, Bucket())

    async def _wait_turn(self, route: str) -> None:
        now = trio.current_time()
        bucket = self._bucket(route)
        until = self._global_until
        if bucket.remaining is not None and bucket.remaining <= 0 and bucket.reset_at > now:
            until = max(until, bucket.reset_at)
        if until > now:
            if until - now > INLINE_WAIT:
                raise DiscordRateLimited(until - now, "bucket" if until == bucket.reset_at else "global")
            await trio.sleep_until(until)
        if bucket.remaining is not None:  # concurrent requests share what is left until the next response
            bucket.remaining -= 1

    def _learn(self, route: str, headers: httpx.Headers) -> None:
        bucket_hash = headers.get("x-ratelimit-bucket")
        if bucket_hash:
            self._bucket_of[route] = bucket_hash
        remaining, reset_after = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset-after")
        if remaining is None or reset_after is None:
            return
        try:
            bucket = self._bucket(route)
            bucket.remaining = int(remaining)
            bucket.reset_at = trio.current_time() + float(reset_after)
        except ValueError:
            pass

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API; the decoded JSON (None for 204), or a ``DiscordError``."""
        route = route_key(method, path)
        for attempt in range(MAX_429_RETRIES + 1):
            await self._wait_turn(route)
            try:
                response = await self._client.request(
                    method,
                    self.base + path,
                    headers=_JSON if body is not None else None,
                    # Encoded by ``dumps``: httpx's ``json=`` raises on a lone surrogate in an agent's reply.
                    content=dumps(body).encode() if body is not None else None,
                )
            except httpx.HTTPError as exc:
                raise DiscordNetworkError(
                    self.redact(f"{method} {route}: {type(exc).__name__}: {exc}")
                ) from None
            self._learn(route, response.headers)
            data = _decode(response)
            if response.status_code == 429:
                self.rate_limited += 1
                retry_after = _retry_after(data, response.headers)
                scope = (
                    "global" if data.get("global") or response.headers.get("x-ratelimit-global") else "bucket"
                )
                if scope == "global":
                    self._global_until = trio.current_time() + retry_after
                else:
                    bucket = self._bucket(route)
                    bucket.remaining, bucket.reset_at = 0, trio.current_time() + retry_after
                if retry_after > INLINE_WAIT or attempt == MAX_429_RETRIES:
                    raise DiscordRateLimited(retry_after, scope)
                continue
            if response.status_code >= 400:
                message = self.redact(str(data.get("message") or response.reason_phrase or "error"))[:300]
                code = data.get("code") if isinstance(data.get("code"), int) else None
                raise DiscordApiError(response.status_code, message, code)
            return data if response.status_code != 204 else None
        raise AssertionError("unreachable")

    # --- the calls this channel makes -----------------------------------------------------------------

    async def gateway_bot(self) -> dict[str, Any]:
        return await self.request("GET", "/gateway/bot")

    async def me(self) -> dict[str, Any]:
        return await self.request("GET", "/users/@me")

    async def guild(self, guild_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/guilds/{guild_id}")

    async def channel(self, channel_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/channels/{channel_id}")

    async def open_dm(self, user_id: str) -> dict[str, Any]:
        return await self.request("POST", "/users/@me/channels", {"recipient_id": user_id})

    async def typing(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/typing")

    async def create_message(
        self, channel_id: str, content: str, *, reply_to: str | None = None, nonce: str | None = None
    ) -> dict[str, Any]:
        """``POST /channels/{id}/messages``. With ``nonce``, ``enforce_nonce`` makes Discord answer a
        repeat (same nonce, same channel, within minutes) with the message already created."""
        body: dict[str, Any] = {
            "content": content,
            # Agent text never pings @everyone/@here or roles; users it names may be.
            "allowed_mentions": {"parse": ["users"], "replied_user": False},
        }
        if nonce:
            body["nonce"], body["enforce_nonce"] = nonce, True
        if reply_to:
            body["message_reference"] = {"message_id": reply_to, "fail_if_not_exists": False}
        return await self.request("POST", f"/channels/{channel_id}/messages", body)


def _decode(response: httpx.Response) -> dict[str, Any]:
    if len(response.content) > MAX_RESPONSE_BYTES:
        return {}
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"items": data}


def _retry_after(data: dict[str, Any], headers: httpx.Headers) -> float:
    for value in (data.get("retry_after"), headers.get("retry-after")):
        try:
            if value is not None:
                return max(0.0, min(float(value), 3600.0))
        except (TypeError, ValueError):
            continue
    return 1.0

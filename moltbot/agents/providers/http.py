"""What the HTTP providers share: one streaming POST with retries, SSE decoding and error mapping.

Theory of operation. ``HttpProvider.stream`` is an async generator that owns one ``httpx`` response at a
time (``async with client.stream(...)``), so closing the generator (``aclose``) or cancelling the task
reading from it closes the connection. An attempt fails *before* any chunk is yielded when the server
cannot be reached or answers 429/5xx; such attempts are retried with exponential backoff and jitter,
honouring ``retry-after`` / ``retry-after-ms``. Anything that fails after the response began (a JSON
error body, a dropped stream, a read timeout, an error event) is raised at once as ``ProviderError``,
because the caller may already have shown part of the answer.

Secrets: the API key only ever goes into request headers. Error messages are built from the provider's
own words and scrubbed of the key, and ``repr`` of a provider never shows it.
"""

from __future__ import annotations

import json
import random as _random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing, asynccontextmanager, contextmanager
from typing import Any

import attrs
import httpx
import trio

from ..._tls import client_ssl_context
from ...protocol import dumps
from .base import Chunk, ModelInfo, ModelRequest, ProviderError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
MAX_ERROR_CHARS = 500
MIN_SCRUBBED_KEY = 8


@attrs.frozen
class HttpSettings:
    """Timeouts (seconds) and the retry policy of an HTTP provider.

    ``read_timeout`` bounds the wait for each piece of the response (headers, then every chunk), not the
    whole answer. A server asking for a longer ``retry-after`` than ``max_retry_wait`` is not waited for:
    the error is raised with ``retry_after`` set instead.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    write_timeout: float = 30.0
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_retry_wait: float = 60.0

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout,
                             write=self.write_timeout, pool=self.connect_timeout)


DEFAULT_SETTINGS = HttpSettings()


@attrs.frozen
class SseEvent:
    event: str
    data: str


class SseDecoder:
    """Server-sent events from lines (sans I/O): ``feed(line)`` returns an event at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None

    def flush(self) -> SseEvent | None:
        """The last event when the stream ended without its blank line."""
        return self.feed("")


def error_message(body: bytes | str) -> str:
    """The provider's own explanation from an error body (``{"error": {"message": …}}`` and kin)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, str):
            return error
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            kind = error.get("type") or error.get("code")
            if isinstance(message, str) and message:
                return f"{message} ({kind})" if isinstance(kind, str) and kind else message
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS] or "(empty response body)"


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` wins over ``retry-after``)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare from model APIs; fall back to our own backoff
        if seconds >= 0:
            return seconds
    return None


async def _drain(events: AsyncGenerator[SseEvent, None]) -> None:
    """Read what follows the end of the answer (the body's last chunk), so the connection can be reused."""
    try:
        async for _ in events:
            pass
    except httpx.HTTPError:
        pass  # the answer was complete; a connection that fails now is simply not reused


class _RetryableAttempt(Exception):
    """An attempt that failed before any output: the loop may try again (private to this module)."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class HttpProvider:
    """A provider reached over HTTP that streams SSE; subclasses say what to send and how to decode.

    Args:
        id: the provider id (``openai``, ``ollama``, a ``models.providers`` key), used in messages.
        base_url: the API root, e.g. ``https://api.openai.com/v1``.
        api_key: sent in a header only; never logged, never in an error message.
        models: what ``models()`` lists (the configured entries).
        headers: extra request headers from the config.
        client: an ``httpx.AsyncClient`` to use; by default one is opened (and closed) per ``stream`` call.
        settings: timeouts and retry policy.
        sleep, random: the backoff's clock and jitter source, injectable for tests.
    """

    def __init__(self, id: str, base_url: str, api_key: str | None = None, *,
                 models: Sequence[ModelInfo] = (), headers: Mapping[str, str] | None = None,
                 client: httpx.AsyncClient | None = None, settings: HttpSettings = DEFAULT_SETTINGS,
                 sleep: Callable[[float], Awaitable[object]] = trio.sleep,
                 random: Callable[[], float] = _random.random) -> None:
        self.id = id
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self._models = list(models)
        self._headers = dict(headers or {})
        self._client = client
        self.settings = settings
        self._sleep = sleep
        self._random = random

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, base_url={self.base_url!r})"

    def models(self) -> list[ModelInfo]:
        return list(self._models)

    # --- what subclasses provide ---------------------------------------------------------------------

    def _url(self) -> str:
        raise NotImplementedError

    def _request_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _decode(self, events: AsyncGenerator[SseEvent, None]) -> AsyncGenerator[Chunk, None]:
        """Turn the SSE events of one successful response into chunks (ending with ``Finish``)."""
        raise NotImplementedError

    # --- the shared machinery ------------------------------------------------------------------------

    async def stream(self, request: ModelRequest) -> AsyncGenerator[Chunk, None]:
        """Stream the model's answer; see the module docstring for retries and errors.

        Raises:
            ProviderError: with the provider's message and the HTTP status when there was one.

        Resource handling: use ``async with contextlib.aclosing(provider.stream(request))``; closing
        the generator, or cancelling the task iterating it, closes the HTTP connection.
        """
        # Encoded here, not by httpx (whose ``json=`` raises on a lone surrogate from a client's text).
        body = dumps(self._body(request)).encode()
        headers = {"content-type": "application/json", "accept": "text/event-stream",
                   **self._headers, **self._request_headers()}
        async with self._open_client() as client:
            attempt = 0
            while True:
                try:
                    async with self._open_response(client, body, headers) as response, \
                            aclosing(self._events(response)) as events, \
                            aclosing(self._decode(events)) as chunks:
                        with self._map_stream_errors():
                            async for chunk in chunks:
                                yield chunk
                        await _drain(events)
                    return
                except _RetryableAttempt as failed:
                    delay = self._backoff(attempt, failed.error)
                    if delay is None:
                        raise failed.error from None
                attempt += 1
                await self._sleep(delay)

    def _backoff(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait before the next attempt, or None when we should give up."""
        if attempt >= self.settings.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.settings.max_retry_wait else None
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** attempt)
        return ceiling * (0.5 + self._random() / 2)

    @asynccontextmanager
    async def _open_client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._client is not None:
            yield self._client
            return
        async with httpx.AsyncClient(timeout=self.settings.timeout(), verify=client_ssl_context()) as client:
            yield client

    @asynccontextmanager
    async def _open_response(self, client: httpx.AsyncClient, body: bytes,
                             headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """One POST whose response headers said 2xx; failures before that raise ``_RetryableAttempt``."""
        async with AsyncExitStack() as stack:
            with self._map_request_errors():
                response = await stack.enter_async_context(client.stream(
                    "POST", self._url(), content=body, headers=headers, timeout=self.settings.timeout()))
                if response.status_code >= 400:
                    raise await self._status_error(response)
            yield response

    @contextmanager
    def _map_request_errors(self) -> Iterator[None]:
        """httpx failures before the response headers → ``_RetryableAttempt`` or ``ProviderError``."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _RetryableAttempt(ProviderError(
                f"{self.id}: cannot connect to {self.base_url}: {self._scrub(str(exc)) or type(exc).__name__}",
                retryable=True)) from exc
        except httpx.ReadTimeout as exc:
            raise self._timeout_error() from exc
        except httpx.RemoteProtocolError as exc:
            if "without sending a response" not in str(exc):
                raise self._transport_error(exc) from exc
            # A pooled keep-alive connection the server had already closed: nothing was sent back.
            raise _RetryableAttempt(ProviderError(
                f"{self.id}: the server closed the connection before answering", retryable=True)) from exc
        except httpx.TransportError as exc:
            detail = self._scrub(str(exc)) or type(exc).__name__
            raise ProviderError(f"{self.id}: request to {self.base_url} failed ({detail})",
                                retryable=isinstance(exc, httpx.NetworkError | httpx.TimeoutException)) from exc
        except httpx.InvalidURL as exc:
            raise ProviderError(f"{self.id}: invalid base URL {self.base_url!r} ({exc})") from exc

    async def _status_error(self, response: httpx.Response) -> Exception:
        try:
            raw = await response.aread()
        except httpx.HTTPError:
            raw = b""
        status = response.status_code
        error = ProviderError(f"{self.id}: HTTP {status}: {self._scrub(error_message(raw))}", status=status,
                              retryable=status in RETRY_STATUSES, retry_after=retry_after(response.headers))
        return _RetryableAttempt(error) if error.retryable else error

    @contextmanager
    def _map_stream_errors(self) -> Iterator[None]:
        """httpx failures while the body streams → ``ProviderError`` (not retried: output may be out)."""
        try:
            yield
        except httpx.ReadTimeout as exc:
            raise self._timeout_error() from exc
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from exc

    def _timeout_error(self) -> ProviderError:
        return ProviderError(f"{self.id}: timed out after {self.settings.read_timeout:g} s waiting for "
                             "the model to send more", retryable=True)

    def _transport_error(self, exc: httpx.TransportError) -> ProviderError:
        detail = self._scrub(str(exc)) or type(exc).__name__
        return ProviderError(f"{self.id}: stream ended unexpectedly ({detail})", retryable=True)

    async def _events(self, response: httpx.Response) -> AsyncGenerator[SseEvent, None]:
        decoder = SseDecoder()
        async for line in response.aiter_lines():
            event = decoder.feed(line)
            if event is not None:
                yield event
        event = decoder.flush()
        if event is not None:
            yield event

    def _scrub(self, text: str) -> str:
        """Remove the API key from text that may echo it (some servers quote the key they rejected).

        Placeholder keys of a few characters (local servers want *some* key) are left alone, or every
        word containing them would be mangled.
        """
        if self._api_key and len(self._api_key) >= MIN_SCRUBBED_KEY:
            return text.replace(self._api_key, "***")
        return text

    def _ended_early(self) -> ProviderError:
        return ProviderError(f"{self.id}: stream ended unexpectedly (the server closed it before the end "
                             "of the answer)", retryable=True)

    def _decode_json(self, data: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError:
            raise ProviderError(f"{self.id}: invalid JSON in the stream: {self._scrub(data[:200])!r}") from None
        if not isinstance(value, dict):
            raise ProviderError(f"{self.id}: unexpected event in the stream: {self._scrub(data[:200])!r}")
        return value

    def _tool_arguments(self, name: str, text: str) -> dict[str, Any]:
        """Parse a tool call's accumulated JSON arguments (empty means no arguments)."""
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ProviderError(f"{self.id}: the model sent invalid arguments for tool {name!r}: "
                                f"{self._scrub(text[:200])!r}")
        return value

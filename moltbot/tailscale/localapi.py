"""tailscaled's LocalAPI over its unix socket: ``whois`` for a tailnet address, ``status`` for our own.

The LocalAPI is plain HTTP/1.1 on tailscaled's unix socket (``/localapi/v0/...``, ``Host:
local-tailscaled.sock``). Only two read-only calls are used here:

- ``GET /localapi/v0/whois?addr=<ip>`` → ``{"Node": {...}, "UserProfile": {"LoginName", "DisplayName",
  "ProfilePicURL"}}`` for the peer that owns ``ip``, 404 when no peer does;
- ``GET /localapi/v0/status?peers=false`` → ``{"BackendState", "Self": {"DNSName", "TailscaleIPs"}}``.

Every call is bounded: a deadline for the whole exchange (connect included), a cap on the answer's size
(read streaming, so a daemon gone wrong cannot make us buffer megabytes), and the answer must be a JSON
object. Whatever goes wrong (no socket, refused, timeout, too large, not JSON) is one exception,
``LocalApiError``, whose message says which, so callers can fail closed and still log a useful reason.
httpx speaks to the unix socket (``AsyncHTTPTransport(uds=...)``) and runs under Trio through anyio.
"""

from __future__ import annotations

import functools
import json
import ssl
import sys
from typing import Any
from urllib.parse import quote

import trio

# Where tailscaled listens by default: Linux and the open-source macOS daemon. The macOS App Store app
# has no unix socket (its LocalAPI is a TCP port with a token file): point ``gateway.tailscale.socket``
# at a tailscaled socket there, or identity checks fail closed.
LINUX_SOCKET = "/var/run/tailscale/tailscaled.sock"
MACOS_SOCKET = "/var/run/tailscaled.socket"
HOST = "local-tailscaled.sock"  # the Host the daemon expects on its socket
TIMEOUT_SECONDS = 5.0  # the original's whois timeout
MAX_ANSWER_BYTES = 256 * 1024  # a status with peers=false or a whois is a few KiB


def default_socket() -> str:
    """The platform's tailscaled socket path."""
    return MACOS_SOCKET if sys.platform == "darwin" else LINUX_SOCKET


class LocalApiError(Exception):
    """tailscaled's LocalAPI could not answer (the message says why, never more than a line)."""


class NotFound(LocalApiError):
    """The LocalAPI answered 404: no peer owns the address."""


class LocalApi:
    """A client of one tailscaled socket. Cheap to create; each call opens its own connection.

    Args:
        socket_path: tailscaled's unix socket.
        timeout: seconds for each call as a whole.
    """

    def __init__(self, socket_path: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    async def whois(self, address: str) -> dict[str, Any]:
        """The whois answer for a tailnet ``address`` (an IP, optionally ``ip:port``).

        Raises:
            NotFound: no peer has this address.
            LocalApiError: the daemon did not answer usably.
        """
        return await self._get(f"/localapi/v0/whois?addr={quote(address, safe='')}")

    async def status(self) -> dict[str, Any]:
        """Our own node's status (without the peer list)."""
        return await self._get("/localapi/v0/status?peers=false")

    async def _get(self, path: str) -> dict[str, Any]:
        import httpx  # here, not at the top: a gateway that never asks tailscaled does not load httpx

        # Plain HTTP on a unix socket: no TLS, but httpx builds an SSL context per transport unless given one
        # (loading the CA bundle took most of a whois); one unused context serves every call.
        transport = httpx.AsyncHTTPTransport(uds=self.socket_path, verify=_unused_tls_context())
        body = bytearray()
        try:
            with trio.fail_after(self.timeout):
                async with httpx.AsyncClient(transport=transport, timeout=None) as client:
                    request = client.build_request(
                        "GET", f"http://{HOST}{path}", headers={"Sec-Tailscale": "localapi"}
                    )
                    response = await client.send(request, stream=True)
                    try:
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) > MAX_ANSWER_BYTES:
                                raise LocalApiError(f"tailscaled answered more than {MAX_ANSWER_BYTES} bytes")
                    finally:
                        await response.aclose()
        except trio.TooSlowError:
            raise LocalApiError(
                f"tailscaled did not answer within {self.timeout:g} s (socket {self.socket_path})"
            ) from None
        except (httpx.HTTPError, OSError) as exc:
            if _caused_by(exc, FileNotFoundError):
                raise LocalApiError(
                    f"no tailscaled socket at {self.socket_path} (is tailscaled running? "
                    "set gateway.tailscale.socket if it listens elsewhere)"
                ) from None
            raise LocalApiError(
                f"tailscaled at {self.socket_path} unreachable: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        if response.status_code == 404:
            raise NotFound(_first_line(body) or "not found")
        if response.status_code != 200:
            raise LocalApiError(f"tailscaled answered HTTP {response.status_code}: {_first_line(body)}")
        try:
            value = json.loads(body)
        except ValueError:
            raise LocalApiError("tailscaled's answer is not JSON") from None
        if not isinstance(value, dict):
            raise LocalApiError("tailscaled's answer is not a JSON object")
        return value


@functools.cache
def _unused_tls_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):  # httpx wraps the socket's error once or twice
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(body: bytes | bytearray) -> str:
    return bytes(body[:200]).decode("utf-8", "replace").strip().splitlines()[0] if body.strip() else ""

"""A raw HTTP/1.1 client over a real socket: the request target goes out byte for byte (httpx would
normalise ``..`` and percent-escapes away, which is exactly what the traversal tests must send)."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
import trio


@attrs.frozen
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


async def raw_request(base_url: str, target: bytes | str, method: str = "GET") -> RawResponse:
    """Send ``method target`` to ``base_url``'s host and port; read the whole response (server closes)."""
    url = urlsplit(base_url)
    target = target.encode("latin-1") if isinstance(target, str) else target
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(url.hostname, url.port)
        async with stream:
            await stream.send_all(method.encode() + b" " + target + b" HTTP/1.1\r\nHost: "
                                  + url.netloc.encode() + b"\r\nConnection: close\r\n\r\n")
            data = bytearray()
            while chunk := await stream.receive_some():
                data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, body)

"""Raw HTTP/1.1 over a trio socket (h11), for request targets and bodies no client library would send."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import attrs
import h11
import trio

from tests.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))  # strict UTF-8: a lone surrogate would fail here


def port_of(gateway: Any) -> int:
    return urlsplit(gateway.urls[0]).port


async def request(gateway: Any, method: str, target: str, *, body: bytes | str | Any = b"",
                  headers: dict[str, str] | None = None) -> Answer:
    """One request on a fresh connection; ``target`` is sent byte for byte; a non-bytes ``body`` is JSON
    (``str`` is sent as written, so ``"\\ud800"`` escapes reach the server as they are)."""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode()
    head = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(body)),
            **(headers or {})}
    connection = h11.Connection(h11.CLIENT)
    with trio.fail_after(30):
        stream = await trio.open_tcp_stream("127.0.0.1", port_of(gateway))
        async with stream:
            wire = connection.send(h11.Request(method=method, target=target.encode("ascii"),
                                               headers=list(head.items())))
            await stream.send_all(wire + connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage()))
            status, answer_headers, data = 0, {}, bytearray()
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    answer_headers = {k.decode(): v.decode("latin-1") for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    data += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return Answer(status, answer_headers, bytes(data))

"""A fake tailscaled LocalAPI on a unix socket: ``whois`` and ``status`` as the daemon answers them.

    async with open_fake_tailscaled(tmp_path / "tailscaled.sock") as fake:
        fake.add_peer("100.101.102.103", login="alice@example.com", name="Alice")
        ... (point ``gateway.tailscale.socket`` at fake.socket_path) ...
        fake.whois_calls  # addresses asked about, in order

``GET /localapi/v0/whois?addr=<ip[:port]>`` answers ``{"Node": {...}, "UserProfile": {...}}`` for a known
peer and 404 ``no match for IP:port`` otherwise; ``GET /localapi/v0/status`` answers ``BackendState`` and
``Self`` (``DNSName``, ``TailscaleIPs``). ``fake.hang = True`` makes every answer wait until the client
gives up (a daemon that accepts but never answers); ``fake.broken = True`` answers 500.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trio

from . import FakeHttpServer, RecordedRequest, Reply, json_reply


class FakeTailscaled(FakeHttpServer):
    def __init__(self, socket_path: Path) -> None:
        super().__init__(route=self._answer)
        self.socket_path = str(socket_path)
        self.peers: dict[str, dict[str, Any]] = {}
        self.self_ips = ["100.64.0.1", "fd7a:115c:a1e0::1"]
        self.dns_name = "gateway-host.example-tailnet.ts.net."
        self.backend_state = "Running"
        self.whois_calls: list[str] = []
        self.hang = False
        self.broken = False

    def add_peer(
        self,
        ip: str,
        *,
        login: str,
        name: str | None = None,
        tags: list[str] | None = None,
        picture: str | None = None,
    ) -> None:
        node: dict[str, Any] = {
            "ID": len(self.peers) + 1,
            "Name": f"device{len(self.peers) + 1}.example-tailnet.ts.net.",
            "ComputedName": f"device{len(self.peers) + 1}",
            "Addresses": [f"{ip}/32"],
        }
        if tags:
            node["Tags"] = tags
        profile: dict[str, Any] = {
            "ID": 1000 + len(self.peers),
            "LoginName": login,
            "DisplayName": name or login,
        }
        if picture:
            profile["ProfilePicURL"] = picture
        self.peers[ip] = {"Node": node, "UserProfile": profile, "CapMap": {}}

    def _answer(self, request: RecordedRequest) -> Reply:
        if self.hang:
            return Reply(200, (("content-type", "application/json"),), (), then="hang")
        if self.broken:
            return Reply(500, (("content-length", "14"),), (b"internal error",))
        url = urlsplit(request.path)
        if request.headers.get("host") != "local-tailscaled.sock":
            return Reply(403, (("content-length", "9"),), (b"bad Host\n",))
        if url.path == "/localapi/v0/whois":
            addr = (parse_qs(url.query).get("addr") or [""])[0]
            self.whois_calls.append(addr)
            ip = addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr.strip("[]")
            answer = self.peers.get(ip)
            if answer is None:
                body = f"no match for IP:port {addr}\n".encode()
                return Reply(404, (("content-length", str(len(body))),), (body,))
            return json_reply(200, answer)
        if url.path == "/localapi/v0/status":
            return json_reply(
                200,
                {
                    "Version": "1.76.0",
                    "BackendState": self.backend_state,
                    "TailscaleIPs": list(self.self_ips),
                    "Self": {"DNSName": self.dns_name, "TailscaleIPs": list(self.self_ips), "Online": True},
                },
            )
        return Reply(404, (("content-length", "10"),), (b"not found\n",))


@asynccontextmanager
async def open_fake_tailscaled(socket_path: Path) -> AsyncIterator[FakeTailscaled]:
    """Serve a fake LocalAPI on ``socket_path`` (a unix socket) until the block ends."""
    fake = FakeTailscaled(socket_path)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.bind(fake.socket_path)
    sock.listen(16)
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(trio.serve_listeners, fake.handle, [trio.SocketListener(sock)]))
        yield fake
        nursery.cancel_scope.cancel()

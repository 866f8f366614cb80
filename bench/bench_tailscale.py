"""Tailscale identity benchmark, run by hand (not by pytest): what the whois check adds to a handshake.

    python bench/bench_tailscale.py [--connects 200]

One in-process gateway with ``allowTailscale`` and the fake tailscaled (``tests/fakes/tailscaled.py``) on a
unix socket, both in this process (so the figures include the fake's own cost). Handshake latency
(WebSocket open → ``hello-ok``), p50/p99 over ``--connects`` sequential connects, for: the token, direct; a
Serve-path identity whose whois is cached (one address); a Serve-path identity with a whois per connect
(a fresh address each time, so the cache never answers); and a bare ``LocalApi.whois`` call. No targets in
the issue: the figures say what the check costs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moltbot import open_gateway  # noqa: E402
from moltbot.config.model import AuthConfig, Config, ControlUiConfig, GatewayConfig, TailscaleConfig  # noqa: E402
from moltbot.tailscale.localapi import LocalApi  # noqa: E402
from tests.fakes.tailscaled import open_fake_tailscaled  # noqa: E402

TOKEN = "bench-token-0123456789"


def headers(ip: str) -> list[tuple[str, str]]:
    return [
        ("X-Forwarded-For", ip),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "gw.example.ts.net"),
        ("Tailscale-User-Login", "alice@example.com"),
    ]


async def handshake(url: str, extra: list[tuple[str, str]] | None, token: str) -> float:
    start = time.perf_counter()
    async with open_websocket_url(url, extra_headers=extra) as ws:
        await ws.get_message()
        await ws.send_message(
            json.dumps(
                {
                    "type": "req",
                    "id": "c1",
                    "method": "connect",
                    "params": {
                        "minProtocol": 4,
                        "maxProtocol": 4,
                        "auth": {"token": token},
                        "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                    },
                }
            )
        )
        while True:
            frame = json.loads(await ws.get_message())
            if frame.get("id") == "c1":
                assert frame["ok"], frame
                return (time.perf_counter() - start) * 1000


def summary(name: str, samples: list[float]) -> str:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"| {name} | {statistics.median(samples):.2f} | {p99:.2f} |"


async def main(connects: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tsb-", dir="/tmp"))
    try:
        async with open_fake_tailscaled(folder / "tailscaled.sock") as fake:
            ips = [f"100.90.{i // 250}.{i % 250 + 1}" for i in range(connects + 1)]
            for ip in ips:
                fake.add_peer(ip, login="alice@example.com")
            config = Config(
                gateway=GatewayConfig(
                    auth=AuthConfig(token=TOKEN, allow_tailscale=True),
                    control_ui=ControlUiConfig(enabled=False),
                    tailscale=TailscaleConfig(socket=fake.socket_path),
                ),
                path=folder / "moltbot.json",
                state_dir=folder,
            )
            async with open_gateway(config, port=0, env={}) as gateway:
                rows = ["| case | p50 ms | p99 ms |", "| --- | --- | --- |"]
                for _ in range(20):  # warm-up
                    await handshake(gateway.url, None, TOKEN)
                rows.append(
                    summary(
                        "token, direct", [await handshake(gateway.url, None, TOKEN) for _ in range(connects)]
                    )
                )
                rows.append(
                    summary(
                        "Serve identity, whois cached",
                        [await handshake(gateway.url, headers(ips[0]), "x") for _ in range(connects)],
                    )
                )
                rows.append(
                    summary(
                        "Serve identity, whois each connect",
                        [await handshake(gateway.url, headers(ip), "x") for ip in ips[1:]],
                    )
                )
                api = LocalApi(fake.socket_path)
                whois = []
                for ip in ips[:connects]:
                    start = time.perf_counter()
                    await api.whois(ip)
                    whois.append((time.perf_counter() - start) * 1000)
                rows.append(summary("LocalApi.whois alone", whois))
                print("\n".join(rows))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--connects", type=int, default=200)
    trio.run(main, parser.parse_args().connects)

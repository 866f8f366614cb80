"""Handshake benchmark, run by hand (not by pytest): hello-ok size and connect time per protocol (issue 16).

    python bench/bench_handshake.py [--count 200]                       # our gateway, started from this tree
    python bench/bench_handshake.py --url ws://127.0.0.1:28901 --token testtoken --protocols 4 --name openclaw

Without ``--url`` it starts a gateway from this tree as a subprocess (``python -m moltbot gateway
--allow-unconfigured --port 0 --token …``, temporary HOME; ``bench_gateway.start_ours``). For each protocol
(3, 4, 7 by default) it opens ``--count`` connections one after the other, each as ``cli``/``cli`` with
``scopes: ["operator.read"]`` and the token, and measures open → hello-ok (the WebSocket upgrade, the
challenge, the connect and the whole hello-ok read); the connection is closed before the next opens.
Figures: the hello-ok ``res`` frame's size in UTF-8 bytes (the first connect's) and the connect time's
p50/p90/p99. Every wait is bounded. Prints a markdown table and writes bench/results/handshake.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from trio_websocket import open_websocket_url

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

import bench_gateway as bg  # noqa: E402  (process handling)

CONNECT_TIMEOUT = 10.0


def connect_text(protocol: int, token: str) -> str:
    return json.dumps(
        {
            "type": "req",
            "id": "c1",
            "method": "connect",
            "params": {
                "minProtocol": protocol,
                "maxProtocol": protocol,
                "client": {"id": "cli", "version": "bench", "platform": "linux", "mode": "cli"},
                "role": "operator",
                "scopes": ["operator.read"],
                "auth": {"token": token},
            },
        }
    )


async def one_connect(url: str, text: str) -> tuple[float, int]:
    """Open → hello-ok in seconds, and the hello-ok frame's size in bytes."""
    started = time.perf_counter()
    with trio.fail_after(CONNECT_TIMEOUT):
        async with open_websocket_url(url, max_message_size=64 * 1024 * 1024) as ws:
            await ws.get_message()  # connect.challenge
            await ws.send_message(text)
            while True:
                message = await ws.get_message()
                frame = json.loads(message)
                if frame.get("type") == "res" and frame.get("id") == "c1":
                    break
            elapsed = time.perf_counter() - started
            if not frame.get("ok"):
                raise bg.BenchError(f"connect refused: {frame.get('error')}")
            return elapsed, len(message.encode("utf-8") if isinstance(message, str) else message)


async def measure(url: str, token: str, protocol: int, count: int) -> dict[str, Any]:
    text = connect_text(protocol, token)
    for _ in range(5):  # warm-up: imports, caches, the health summary
        await one_connect(url, text)
    times, size = [], 0
    for _ in range(count):
        elapsed, size = await one_connect(url, text)
        times.append(elapsed * 1000)
    times.sort()
    return {
        "protocol": protocol,
        "count": count,
        "hello_ok_bytes": size,
        "connect_ms_p50": round(statistics.median(times), 3),
        "connect_ms_p90": round(bg.percentile(times, 0.90), 3),
        "connect_ms_p99": round(bg.percentile(times, 0.99), 3),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    registry: list[bg.Server] = []
    try:
        if args.url:
            url, token, name = args.url, args.token, args.name
        else:
            tmp = Path(tempfile.mkdtemp(prefix="bench-handshake-"))
            server = await bg.start_ours(tmp, registry)
            url, token, name = server.url, server.token, "ours"
        rows = []
        for protocol in args.protocols:
            row = await measure(url, token, protocol, args.count)
            rows.append({"gateway": name, **row})
        return rows
    finally:
        for server in registry:
            bg.stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--token", default="")
    parser.add_argument("--name", default="target", help="the gateway's name in the results (with --url)")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--protocols", type=lambda text: [int(p) for p in text.split(",")], default=[3, 4, 7])
    parser.add_argument("--out", type=Path, default=RESULTS / "handshake.json")
    args = parser.parse_args()
    rows = trio.run(run, args)
    print("| gateway | protocol | hello-ok bytes | connect p50 ms | p90 | p99 |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['gateway']} | {row['protocol']} | {row['hello_ok_bytes']} | {row['connect_ms_p50']} | "
            f"{row['connect_ms_p90']} | {row['connect_ms_p99']} |"
        )
    previous = json.loads(args.out.read_text()) if args.out.exists() else []
    kept = [row for row in previous if row.get("gateway") not in {r["gateway"] for r in rows}]
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(kept + rows, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark (by hand): the canvas host, in this process on a temporary root.

    python bench/bench_canvas.py [--requests 500] [--reloads 30]

Figures: GET latency p50/p99 of a 404 (no disk access: hypercorn + httpx alone), an HTML page (live-reload script injected) and of a 64 KiB script over
one keep-alive httpx connection; MB/s of a 32 MiB file; from a file write to the ``reload`` frame on
the live-reload WebSocket, p50/p99 over ``--reloads`` writes (the watcher's quiet time is 75 ms of it).
No targets: it shows where the time goes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import trio
from trio_websocket import open_websocket_url

from moltbot.canvas.server import CanvasSettings, serve_canvas


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p50 {statistics.median(samples) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


async def main(requests: int, reloads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "canvas"
        root.mkdir()
        (root / "index.html").write_text("<html><body>" + "<p>hello</p>" * 800 + "</body></html>")
        (root / "app.js").write_bytes(b"//" + b"x" * (64 * 1024 - 2))
        (root / "big.bin").write_bytes(b"\0" * (32 * 1024 * 1024))
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_canvas, CanvasSettings("127.0.0.1", 0, root), stop)
            async with httpx.AsyncClient(base_url=url + "/__moltbot__/canvas") as http:
                for path in ("/nope", "/index.html", "/app.js"):  # /nope: a 404 without the disk, the floor
                    samples = []
                    for _ in range(requests):
                        started = time.perf_counter()
                        response = await http.get(path)
                        samples.append(time.perf_counter() - started)
                        assert response.status_code == (404 if path == "/nope" else 200)
                    print(f"GET {path} ({len(response.content) // 1024} KiB): {percentiles(samples)}")
                started = time.perf_counter()
                size = len((await http.get("/big.bin")).content)
                print(f"GET /big.bin: {size / (time.perf_counter() - started) / 1e6:.0f} MB/s")
            samples = []
            async with open_websocket_url(url.replace("http://", "ws://") + "/__moltbot/ws") as ws:
                for index in range(reloads):
                    started = time.perf_counter()
                    await trio.to_thread.run_sync((root / "app.js").write_text, f"// {index}")
                    assert await ws.get_message() == "reload"
                    samples.append(time.perf_counter() - started)
            print(f"write → reload ({reloads} writes): {percentiles(samples)}")
            stop.set()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--reloads", type=int, default=30)
    args = parser.parse_args()
    trio.run(main, args.requests, args.reloads)

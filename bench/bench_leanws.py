"""The lean WebSocket path's figures (issue 17, items 3, 4 and 6), run by hand, not by pytest.

    python bench/bench_leanws.py [--seconds 4] [--big 10000] [--no-original] [--no-asgi] [--only-held]

Servers, each its own process on a free loopback port: ours (the lean path), ours with
``MOLTBOT_WS_PATH=asgi`` (the hypercorn ASGI WebSocket path it replaced, same build), the January original
and today's OpenClaw when installed (../shared/original/). Figures, each with its target and ✓/✗:
- ``health`` round trips/s with 1 and 16 clients and the server's CPU per round trip (bench_gateway's
  trio-websocket client, the same for every server; slices alternate between the servers);
- RSS per idle authenticated connection with 1,000 and ``--big`` held (bench/lean_client.py clients in
  this process; the slope from 50 warm connections, so one-time first-use costs are not counted);
- with ``--big`` held: how fast they opened (and the CPU per open of the server and of this process's
  clients over that ramp), a bystander's ``health`` p99 while they are held, and the RSS after they
  closed against the RSS before (within 10 %);
- SIGUSR1 → the next hello-ok answered by the new Runtime, and connects refused meanwhile, with 0 and
  with 1,000 connections open at the restart (ours only: the original restarts by process).
Prints a markdown table and writes bench/results/leanws-latest.json.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_gateway as bg  # noqa: E402
import lean_client as lc  # noqa: E402

TARGETS = {
    "kib_per_conn": 24.0,
    "cpu_us_per_call": 90.0,
    "ratio_1": 1.0,
    "ratio_16": 3.0,
    "bystander_p99_ms": 50.0,
    "open_per_s": 2000.0,
    "rss_back_ratio": 1.10,
    "restart_ms": 25.0,
}
WARM = 50
bg.START_TIMEOUT = 240.0  # the originals take minutes to start on a loaded 2-core machine
OPENCLAW_INSTALLED = (bg.SHARED_ORIGINAL / "start-openclaw.sh").exists() and Path(
    os.environ.get("MOLTBOT_OPENCLAW_DIR", Path.home() / ".cache" / "moltbot-openclaw")
).exists()
OPENERS = 64


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


async def start_asgi(tmp: Path, registry: list[bg.Server]) -> bg.Server:
    os.environ["MOLTBOT_WS_PATH"] = "asgi"
    try:
        server = await bg.start_ours(tmp, registry)
    finally:
        del os.environ["MOLTBOT_WS_PATH"]
    server.name = "ours-asgi"
    return server


async def start_openclaw(tmp: Path, registry: list[bg.Server]) -> bg.Server:
    script = bg.SHARED_ORIGINAL / "start-openclaw.sh"
    port = bg.free_port()
    started = time.perf_counter()
    proc = await trio.run_process(
        ["bash", str(script), str(port)], capture_stdout=True, stdin=b"", env={**os.environ, "WAIT_S": "240"}
    )
    pid = int(proc.stdout.split()[-1])
    server = bg.Server(
        name="openclaw",
        pid=pid,
        log_path=tmp / "openclaw.log",
        started_at=started,
        url=f"ws://127.0.0.1:{port}",
        token=bg.ORIGINAL_TOKEN,
    )
    registry.append(server)
    return server


def host_port(server: bg.Server) -> tuple[str, int]:
    rest = server.url.split("://", 1)[1]
    host, port = rest.rsplit(":", 1)
    return host, int(port)


async def hold(server: bg.Server, count: int, streams: list, nursery: trio.Nursery, errors: list) -> float:
    """Open ``count`` more clients (``OPENERS`` at a time), each drained by a task in ``nursery``; seconds."""
    host, port = host_port(server)
    began = time.perf_counter()

    async def opener(quota: int) -> None:
        for _ in range(quota):
            try:
                with trio.fail_after(30):
                    stream, reader = await lc.open_client(host, port, server.token)
            except (OSError, lc.ClosedByServer, trio.TooSlowError, trio.BrokenResourceError) as exc:
                errors.append(repr(exc)[:120])
                if len(errors) > 50:
                    raise
                continue
            streams.append(stream)
            nursery.start_soon(_drain, reader)

    async with trio.open_nursery() as openers:
        for index in range(OPENERS):
            openers.start_soon(opener, count // OPENERS + (index < count % OPENERS))
    return time.perf_counter() - began


async def _drain(reader: lc.Reader) -> None:
    try:
        await reader.drain()
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def bystander(server: bg.Server, seconds: float) -> dict[str, Any]:
    """One more client calling ``health`` back to back for ``seconds``: its latency."""
    host, port = host_port(server)
    stream, reader = await lc.open_client(host, port, server.token, mode="cli")
    samples = []
    stop = time.perf_counter() + seconds
    number = 0
    while time.perf_counter() < stop:
        number += 1
        began = time.perf_counter()
        await lc.send_text(stream, f'{{"type":"req","id":"b{number}","method":"health","params":{{}}}}')
        await lc.wait_response(reader, f"b{number}")
        samples.append(time.perf_counter() - began)
    stream.socket.close()
    return bg.latency_summary(samples)


async def measure_held(server: bg.Server, big: int, seconds: float) -> dict[str, Any]:
    """RSS per connection at 1,000 and ``big``; open rate, bystander latency, RSS after closing."""
    result: dict[str, Any] = {}
    baseline = await bg.settled_rss(server)
    streams: list = []
    errors: list[str] = []
    async with trio.open_nursery() as nursery:
        await hold(server, WARM, streams, nursery, errors)
        warm_rss = await bg.settled_rss(server)
        await hold(server, 1000 - WARM, streams, nursery, errors)
        rss_1k = await bg.settled_rss(server)
        result["kib_per_conn_1k"] = round((rss_1k - warm_rss) / 1024 / max(1, len(streams) - WARM), 2)
        if big > 1000:
            opened = len(streams)
            proc, client_cpu = psutil.Process(server.pid), time.process_time()
            server_cpu = sum(proc.cpu_times()[:2])
            ramp = await hold(server, big - 1000, streams, nursery, errors)
            count = max(1, len(streams) - opened)
            result["open_per_s"] = round(count / ramp, 1)
            # CPU per open over the ramp: the gateway's (psutil) and this process's (the lean clients).
            result["server_cpu_us_per_open"] = round((sum(proc.cpu_times()[:2]) - server_cpu) / count * 1e6)
            result["client_cpu_us_per_open"] = round((time.process_time() - client_cpu) / count * 1e6)
            rss_big = await bg.settled_rss(server)
            result["held"] = len(streams)
            result["kib_per_conn_big"] = round((rss_big - warm_rss) / 1024 / max(1, len(streams) - WARM), 2)
            result["bystander"] = await bystander(server, seconds)
        for stream in streams:
            stream.socket.close()
        nursery.cancel_scope.cancel()
    with trio.move_on_after(30):  # until the server has seen every close
        while psutil.Process(server.pid).num_fds() > 200:  # noqa: ASYNC110 - another process: polled
            await trio.sleep(0.2)
    await trio.sleep(2)
    after = await bg.settled_rss(server)
    result.update(
        rss_baseline_mb=round(baseline / 2**20, 1),
        rss_after_close_mb=round(after / 2**20, 1),
        rss_back_ratio=round(after / baseline, 3),
        errors=errors[:5],
        error_count=len(errors),
    )
    return result


async def restart_downtime(server: bg.Server, held: int) -> dict[str, Any]:
    """SIGUSR1, then a probe reconnecting in a loop until a hello-ok whose ``health`` answers (the new
    Runtime; the old one closes 1012); ms from the signal, and refused connects (ECONNREFUSED)."""
    host, port = host_port(server)
    streams: list = []
    errors: list[str] = []
    refused = 0
    async with trio.open_nursery() as nursery:
        if held:
            await hold(server, held, streams, nursery, errors)
            await bg.settled_rss(server)
        began = time.perf_counter()
        os.kill(server.pid, signal.SIGUSR1)
        downtime = None
        with trio.move_on_after(30):
            while downtime is None:
                try:
                    stream, reader = await lc.open_client(host, port, server.token, mode="cli")
                    await lc.send_text(stream, '{"type":"req","id":"p","method":"health","params":{}}')
                    response = await lc.wait_response(reader, "p")
                    stream.socket.close()
                    if response.get("ok"):
                        downtime = time.perf_counter() - began
                except OSError as exc:
                    if exc.errno == errno.ECONNREFUSED:
                        refused += 1
                        await trio.sleep(0.001)
                except lc.ClosedByServer:
                    pass
        for stream in streams:
            stream.socket.close()
        nursery.cancel_scope.cancel()
    await trio.sleep(1)
    return {
        "held": len(streams),
        "downtime_ms": None if downtime is None else round(downtime * 1000, 1),
        "refused": refused,
    }


async def round_trips(servers: dict[str, bg.Server], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for clients in (1, 16):
        slices: dict[str, list] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, server in servers.items():
                slices[name].append(await bg.measure_round_trips(server, clients, args.seconds / args.rounds))
        for name in servers:
            merged = bg.summarize_round_trips(slices[name], clients)
            server_s = sum(piece["server_s"] for piece in slices[name])
            count = sum(len(piece["samples"]) for piece in slices[name])
            results.setdefault(name, {})[f"rt_{clients}"] = {
                "per_s": merged["per_s"],
                "p50_ms": merged.get("p50_ms"),
                "p99_ms": merged.get("p99_ms"),
                "cpu_us_per_call": round(server_s / max(1, count) * 1e6, 1),
            }
    return results


def mark(key: str, value: float | None, higher: bool = False) -> str:
    if value is None:
        return "–"
    ok = value >= TARGETS[key] if higher else value <= TARGETS[key]
    return f"{value:g} {'✓' if ok else '✗'}"


def table(report: dict[str, Any]) -> str:
    rows = [
        "| figure | " + " | ".join(report["servers"]) + " | target |",
        "| --- | " + " | ".join("---" for _ in report["servers"]) + " | --- |",
    ]
    res = report["results"]
    original = res.get("original", {})

    def cells(fn) -> str:
        return " | ".join(fn(name, res.get(name, {})) for name in report["servers"])

    def fmt(value: Any) -> str:
        return "–" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)

    for clients in (1, 16):
        key = f"rt_{clients}"
        base = original.get(key, {}).get("per_s")

        def ratio(name: str, r: dict, key=key, base=base, clients=clients) -> str:
            value = r.get(key, {}).get("per_s")
            if value is None:
                return "–"
            if name.startswith("ours") and base:
                return f"{value:g} (×{value / base:.2f}) {'✓' if value / base >= TARGETS[f'ratio_{clients}'] else '✗'}"
            return f"{value:g}"

        target = f"≥ {TARGETS[f'ratio_{clients}']:g}× original"
        rows.append(f"| health round trips/s, {clients} client(s) | {cells(ratio)} | {target} |")
        rows.append(
            f"| server CPU µs per health call, {clients} client(s) | "
            + cells(
                lambda n, r, key=key: (
                    mark("cpu_us_per_call", r.get(key, {}).get("cpu_us_per_call"))
                    if n.startswith("ours")
                    else fmt(r.get(key, {}).get("cpu_us_per_call"))
                )
            )
            + " | ≤ 90 |"
        )

    def held(n: str, r: dict, k: str) -> str:
        return (
            mark("kib_per_conn", r.get("held", {}).get(k))
            if n.startswith("ours")
            else fmt(r.get("held", {}).get(k))
        )

    rows.append(
        "| KiB RSS per idle connection, 1,000 held | "
        + cells(lambda n, r: held(n, r, "kib_per_conn_1k"))
        + " | ≤ 24 |"
    )
    rows.append(
        f"| KiB RSS per idle connection, {report['big']:,} held | "
        + cells(lambda n, r: held(n, r, "kib_per_conn_big"))
        + " | ≤ 24 |"
    )
    rows.append(
        f"| connections held of {report['big']:,} | "
        + cells(lambda n, r: fmt(r.get("held", {}).get("held")))
        + " | all |"
    )
    rows.append(
        "| opened per second (from 1,000 on) | "
        + cells(lambda n, r: mark("open_per_s", r.get("held", {}).get("open_per_s"), higher=True))
        + " | ≥ 2,000 |"
    )
    rows.append(
        "| CPU µs per open, gateway; clients (from 1,000 on) | "
        + cells(
            lambda n, r: (
                f"{fmt(r.get('held', {}).get('server_cpu_us_per_open'))}; "
                f"{fmt(r.get('held', {}).get('client_cpu_us_per_open'))}"
            )
        )
        + " | – |"
    )
    rows.append(
        "| bystander health p99 ms, all held | "
        + cells(
            lambda n, r: mark("bystander_p99_ms", (r.get("held", {}).get("bystander") or {}).get("p99_ms"))
        )
        + " | ≤ 50 |"
    )
    rows.append(
        "| RSS after close ÷ before | "
        + cells(lambda n, r: mark("rss_back_ratio", r.get("held", {}).get("rss_back_ratio")))
        + " | ≤ 1.10 |"
    )
    for held_count in (0, 1000):
        key = f"restart_{held_count}"
        rows.append(
            f"| SIGUSR1 → next hello-ok ms, {held_count:,} open; refused | "
            + cells(
                lambda n, r, key=key: (
                    "–"
                    if key not in r
                    else f"{mark('restart_ms', r[key]['downtime_ms'])}; {r[key]['refused']} refused"
                )
            )
            + " | ≤ 25; 0 |"
        )
    return "\n".join(rows)


async def run(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    for name in ("ours", "asgi", "original", "openclaw"):
        (tmp / name).mkdir()
    servers = {"ours": await bg.start_ours(tmp / "ours", registry)}
    if not args.no_asgi:
        servers["ours-asgi"] = await start_asgi(tmp / "asgi", registry)
    if not args.no_original and bg.ORIGINAL_ENTRY.exists():
        try:
            servers["original"] = await bg.start_original(tmp / "original", registry)
        except (bg.BenchError, OSError) as exc:
            print(f"original not started: {exc!r}", file=sys.stderr)
    if not args.no_openclaw and OPENCLAW_INSTALLED:
        try:
            servers["openclaw"] = await start_openclaw(tmp / "openclaw", registry)
        except (OSError, ValueError, IndexError, Exception) as exc:  # noqa: BLE001 - an optional comparison
            print(f"openclaw not started: {exc!r}", file=sys.stderr)
    for name, server in list(servers.items()):
        try:
            await bg.cold_start(server)
        except bg.BenchError as exc:  # e.g. the original on a loaded machine: the others are still measured
            print(f"{name} left out: {exc}", file=sys.stderr)
            del servers[name]
    results: dict[str, Any] = {name: {} for name in servers}
    if not args.only_held:
        results.update(await round_trips(servers, args))
    for name, server in servers.items():
        print(f"holding connections on {name}", file=sys.stderr)
        try:
            results[name]["held"] = await measure_held(
                server, args.big if name == "ours" or args.big_all else 1000, args.seconds
            )
        except Exception as exc:  # noqa: BLE001 - one server's failure must not lose the others' figures
            results[name]["held"] = {"error": repr(exc)[:300]}
    for name in ("ours", "ours-asgi"):
        if name in servers and not args.only_held:
            for held in (0, 1000):
                results[name][f"restart_{held}"] = await restart_downtime(servers[name], held)
    return {"servers": list(servers), "results": results, "big": args.big}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--big-all", action="store_true", help="hold --big on every server, not only ours")
    parser.add_argument("--no-original", action="store_true")
    parser.add_argument("--no-openclaw", action="store_true")
    parser.add_argument("--no-asgi", action="store_true")
    parser.add_argument(
        "--only-held",
        action="store_true",
        help="only the held-connections phase (no round trips, no restarts)",
    )
    args = parser.parse_args()
    bg.raise_fd_limit(args.big * 2 + 1000)
    load = os.getloadavg()
    registry: list[bg.Server] = []
    try:
        with tempfile.TemporaryDirectory(prefix="moltbot-leanws-") as tmp:
            report = trio.run(run, args, Path(tmp), registry)
    finally:
        for server in registry:
            bg.stop_server(server)
    report["load"] = [load, os.getloadavg()]
    print(table(report))
    print(
        f"\nload average {tuple(round(x, 2) for x in load)} → {tuple(round(x, 2) for x in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs (shared with other engineers' work: absolute figures are inflated, ratios "
        f"are taken in the same run)"
    )
    out = bg.RESULTS / "leanws-latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a connection's bytes and a call's microseconds go (issue 17), run by hand, not by pytest.

    python bench/profile_leanws.py memory [--connections 1000] [--top 25]
    python bench/profile_leanws.py cpu [--calls 20000] [--top 30]
    python bench/profile_leanws.py opens [--held 1000] [--opens 2000] [--top 30]

The gateway runs in this process (``open_gateway`` on a free loopback port, no channels, canvas off); the
clients run in a child process (``bench/lean_client.py``), so nothing of theirs is counted.

``memory``: a tracemalloc snapshot before and after ``--connections`` authenticated idle clients are
held (after a settle; the first snapshot is taken with ``WARM`` clients already held, so one-time costs
of the first connections, e.g. converters built on first use, are not counted per connection), grouped by the source line that allocated; prints bytes per connection per line,
the total traced per connection, and the RSS growth per connection.
``cpu``: ``--calls`` sequential ``health`` round trips from one client; first unprofiled (the process's
CPU time per call), then again under cProfile (top functions by own time).
``opens``: ``--held`` clients held (``client.mode`` "test", in the presence list, as bench_leanws's), then
``--opens`` more opened by 64 openers, twice: unprofiled (opens/s, the gateway's and the client process's
CPU per open) and under cProfile (top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

TOKEN = "bench-token-0123456789"


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def malloc_kib() -> tuple[int, int, int]:
    """glibc's heap: (system bytes, in use, free) in KiB from ``mallinfo2``; zeros elsewhere."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return 0, 0, 0
    return (info.arena + info.hblkhd) // 1024, (info.uordblks + info.hblkhd) // 1024, info.fordblks // 1024


# --- the client process --------------------------------------------------------------------------------


WARM = 50  # connections opened (and held) before the first snapshot: first-use caches are not per connection


async def hold(port: int, count: int) -> None:
    """Open ``WARM`` clients, print ``warm``, wait for a line; open ``count`` more (16 at a time), print
    ``ready``, drain them all until stdin closes."""
    import lean_client as lc

    streams = []
    async with trio.open_nursery() as nursery:

        async def opener(quota: int) -> None:
            for _ in range(quota):
                stream, reader = await lc.open_client("127.0.0.1", port, TOKEN)
                streams.append(stream)
                nursery.start_soon(reader.drain)

        await opener(WARM)
        print("warm", flush=True)
        await trio.to_thread.run_sync(sys.stdin.readline)
        async with trio.open_nursery() as openers:
            for index in range(16):
                openers.start_soon(opener, count // 16 + (index < count % 16))
        print("ready", flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()
    for stream in streams:
        stream.socket.close()


async def storm(port: int, held: int, count: int) -> None:
    """Hold ``held`` clients; then, twice on a line from stdin, open ``count`` more (64 openers), print
    ``done`` with the rate and this process's CPU per open; drain them all until stdin closes."""
    import lean_client as lc

    streams = []
    async with trio.open_nursery() as nursery:

        async def opener(quota: int) -> None:
            for _ in range(quota):
                stream, reader = await lc.open_client("127.0.0.1", port, TOKEN)
                streams.append(stream)
                nursery.start_soon(reader.drain)

        async def openers(total: int, width: int) -> None:
            async with trio.open_nursery() as group:
                for index in range(width):
                    group.start_soon(opener, total // width + (index < total % width))

        await openers(held, 16)
        print("held", flush=True)
        for round_ in range(2):
            await trio.to_thread.run_sync(sys.stdin.readline)
            cpu, began = time.process_time(), time.perf_counter()
            await openers(count, 64)
            elapsed = time.perf_counter() - began
            used = time.process_time() - cpu
            print(f"done {round_} {count / elapsed:.0f}/s client-cpu {used / count * 1e6:.0f}", flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()
    for stream in streams:
        stream.socket.close()


async def calls(port: int, count: int) -> None:
    import lean_client as lc

    stream, reader = await lc.open_client("127.0.0.1", port, TOKEN, mode="cli")
    for round_ in range(2):
        await trio.to_thread.run_sync(sys.stdin.readline)
        began = time.perf_counter()
        for number in range(count):
            await lc.send_text(stream, f'{{"type":"req","id":"h{number}","method":"health","params":{{}}}}')
            await lc.wait_response(reader, f"h{number}")
        print(f"done {round_} {count / (time.perf_counter() - began):.0f}/s", flush=True)
    stream.socket.close()


# --- the gateway process -------------------------------------------------------------------------------


def make_config(tmp: Path):
    from moltbot.config.model import AuthConfig, CanvasHostConfig, Config, ControlUiConfig, GatewayConfig

    return Config(
        gateway=GatewayConfig(auth=AuthConfig(token=TOKEN), control_ui=ControlUiConfig(enabled=False)),
        canvas_host=CanvasHostConfig(enabled=False),
        state_dir=tmp,
    )


def child(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )


async def wait_line(proc: subprocess.Popen, prefix: str) -> str:
    line = await trio.to_thread.run_sync(proc.stdout.readline)
    if not line.startswith(prefix):
        raise RuntimeError(f"client said {line!r}")
    return line.strip()


async def settle(seconds: float = 2.0) -> None:
    await trio.sleep(seconds)
    gc.collect()


def _group(stat: tracemalloc.StatisticDiff) -> str:
    frame = stat.traceback[0]
    path = frame.filename
    for marker in ("site-packages/", "/moltbot/", "/lib/python3"):
        if marker in path:
            path = (
                path.split(marker, 1)[1] if marker != "/moltbot/" else "moltbot/" + path.split(marker, 1)[1]
            )
            break
    return f"{path}:{frame.lineno}"


async def profile_memory(count: int, top: int) -> None:
    from moltbot.gateway.app import open_gateway

    with tempfile.TemporaryDirectory() as tmp:
        async with open_gateway(make_config(Path(tmp)), port=0, env={}) as gateway:
            proc = child("--client-hold", str(gateway.port), str(count))
            await wait_line(proc, "warm")
            await settle()
            tracemalloc.start(1)
            before, rss_before, heap_before = tracemalloc.take_snapshot(), rss_kib(), malloc_kib()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            await wait_line(proc, "ready")
            await settle(3.0)
            after, rss_after, heap_after = tracemalloc.take_snapshot(), rss_kib(), malloc_kib()
            held = len(gateway.runtime.broadcaster.connections) - WARM
            tracemalloc.stop()
            proc.stdin.close()
            await trio.to_thread.run_sync(proc.wait)
    # Blocks over pymalloc's 512 bytes come from glibc's heap: long-lived ones there pin the pages that
    # transient big frames freed around them (fragmentation: RSS that never comes back).
    big_before = {(t.traceback[0].filename, t.traceback[0].lineno) for t in before.traces if t.size > 512}
    big = {}
    for trace in after.traces:
        if trace.size > 512:
            where = (trace.traceback[0].filename, trace.traceback[0].lineno)
            big[where] = big.get(where, 0) + 1
    diff = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in diff)
    print(
        f"{held} connections held; traced {total / 1024 / count:.2f} KiB per connection, RSS "
        f"{(rss_after - rss_before) / count:.2f} KiB per connection"
    )
    print(f"glibc heap (system, in use, free KiB): {heap_before} → {heap_after}")
    print(
        "blocks > 512 bytes per connection:",
        ", ".join(
            f"{path.rsplit('/', 2)[-1]}:{line} {n / count:.2f}"
            for (path, line), n in sorted(big.items(), key=lambda i: -i[1])
            if n / count >= 0.5 and (path, line) not in big_before or n / count >= 0.9
        ),
    )
    print("| bytes/conn | allocations/conn | where |\n| ---: | ---: | --- |")
    for stat in sorted(diff, key=lambda s: -s.size_diff)[:top]:
        print(f"| {stat.size_diff / count:.0f} | {stat.count_diff / count:.2f} | {_group(stat)} |")


async def profile_cpu(count: int, top: int) -> None:
    from moltbot.gateway.app import open_gateway

    with tempfile.TemporaryDirectory() as tmp:
        async with open_gateway(make_config(Path(tmp)), port=0, env={}) as gateway:
            proc = child("--client-calls", str(gateway.port), str(count))
            await trio.sleep(1.0)
            for round_, profiler in enumerate((None, cProfile.Profile())):
                cpu = time.process_time()
                if profiler is not None:
                    profiler.enable()
                proc.stdin.write("go\n")
                proc.stdin.flush()
                line = await wait_line(proc, f"done {round_}")
                if profiler is not None:
                    profiler.disable()
                used = time.process_time() - cpu
                label = "under cProfile" if profiler else "unprofiled"
                print(f"{label}: {line.split()[-1]}, gateway CPU {used / count * 1e6:.1f} µs per health call")
            proc.stdin.close()
            await trio.to_thread.run_sync(proc.wait)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


async def profile_opens(held: int, count: int, top: int) -> None:
    from moltbot.gateway.app import open_gateway

    with tempfile.TemporaryDirectory() as tmp:
        async with open_gateway(make_config(Path(tmp)), port=0, env={}) as gateway:
            proc = child("--client-storm", str(gateway.port), str(held), str(count))
            await wait_line(proc, "held")
            await settle()
            for round_, profiler in enumerate((None, cProfile.Profile())):
                cpu = time.process_time()
                if profiler is not None:
                    profiler.enable()
                proc.stdin.write("go\n")
                proc.stdin.flush()
                line = await wait_line(proc, f"done {round_}")
                if profiler is not None:
                    profiler.disable()
                used = time.process_time() - cpu
                label = "under cProfile" if profiler else "unprofiled"
                _, _, rate, _, client_us = line.split()
                print(
                    f"{label}: {rate} opened from {held + round_ * count} held, gateway CPU "
                    f"{used / count * 1e6:.0f} µs per open, client CPU {client_us} µs per open"
                )
                await settle()
            proc.stdin.close()
            await trio.to_thread.run_sync(proc.wait)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(SORT[0]).print_stats(top)
    print(out.getvalue())


SORT = ["tottime"]  # --sort


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--client-hold":
        trio.run(hold, int(sys.argv[2]), int(sys.argv[3]))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "--client-storm":
        trio.run(storm, int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--client-calls":
        trio.run(calls, int(sys.argv[2]), int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["memory", "cpu", "opens"])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--held", type=int, default=1000)
    parser.add_argument("--opens", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats order of the opens profile (cumulative, …)")
    args = parser.parse_args()
    SORT[0] = args.sort
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.what == "memory":
        trio.run(profile_memory, args.connections, args.top)
    elif args.what == "opens":
        trio.run(profile_opens, args.held, args.opens, args.top)
    else:
        trio.run(profile_cpu, args.calls, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

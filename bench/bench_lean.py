"""Start-up and idle figures of issue 17 (run by hand, not by pytest), ours beside the January original.

    python bench/bench_lean.py [--idle-seconds 10] [--runs 3] [--no-original] [--no-bytecode]

For each gateway, started as its own process on a free loopback port with no channels configured:
- cold start: process launch to the first hello-ok (median of ``--runs``), and the CPU time the gateway
  process had used by then (user + system: what the load of a shared machine does not inflate);
- idle wake-ups per second: context switches of every thread of the process over ``--idle-seconds``
  (/proc/PID/task/*/status), after a 3 s settle;
- idle RSS (MiB) after the settle;
and for our CLI: ``moltbot --help``, ``moltbot status`` against the running gateway and against none (a
closed port), wall time and CPU time (the CLI process's own: the gateway's share of a status is not in
it), and the CPU time ``import moltbot.cli`` costs. Per-call CPU, round trips and per-connection RSS are
bench_gateway.py's. The machine is shared: each figure is printed with the load
average it was taken at.

Bytecode: an installed moltbot has its ``.pyc`` files (pip compiles them), so our processes run with
bytecode caching on, cached under a temporary ``PYTHONPYCACHEPREFIX`` (the work tree stays clean), after a
discarded warm-up start that compiles it; ``--no-bytecode`` keeps the environment's setting (this
machine's sessions set ``PYTHONDONTWRITEBYTECODE=1``: every import then compiles from source, ~2× slower).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_gateway as bg  # noqa: E402

TARGETS = {"cold_start_s": 0.4, "wakeups_per_s": 2.0, "idle_rss_mib": 45.0, "help_s": 0.15, "status_s": 0.3,
           "status_no_gateway_s": 0.3}
FIGURES = ("cold_start_s", "cold_start_cpu_s", "wakeups_per_s", "idle_rss_mib", "help_s", "help_cpu_s", "status_s",
           "status_cpu_s", "status_no_gateway_s", "status_no_gateway_cpu_s", "import_cli_cpu_s")


def context_switches(pid: int) -> dict[str, int]:
    """Context switches (voluntary + not) of each thread of ``pid``, by thread id."""
    counts = {}
    for path in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(path) as status:
                counts[path.split("/")[4]] = sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return counts


def switches_since(before: dict[str, int], after: dict[str, int]) -> int:
    """Switches in between: of the threads alive at the end (one that ended meanwhile, such as an idle
    worker thread trio lets go of after 10 s, is not counted: its totals are gone)."""
    return sum(count - before.get(tid, 0) for tid, count in after.items())


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


async def measure_server(start, name: str, tmp: Path, runs: int, idle_seconds: float, *,
                         warm_up: bool = False) -> dict:
    starts, start_cpus, result = [], [], {}
    for run in range(-1 if warm_up else 0, runs):  # run -1: compiles the bytecode, not counted
        registry: list[bg.Server] = []
        run_dir = tmp / f"{name}-{run}"
        run_dir.mkdir()
        try:
            server = await start(run_dir, registry)
            started = await bg.cold_start(server)
            if run >= 0:
                starts.append(started)
                start_cpus.append(cpu_seconds(server.pid))  # the gateway's CPU up to its first hello-ok
            if run == runs - 1:
                await trio.sleep(3)
                before = context_switches(server.pid)
                await trio.sleep(idle_seconds)
                result["wakeups_per_s"] = switches_since(before, context_switches(server.pid)) / idle_seconds
                result["idle_rss_mib"] = rss_mib(server.pid)
                result["url"] = server.url
                if name == "ours":
                    result.update(cli_figures(server, run_dir))
        finally:
            for server in registry:
                bg.stop_server(server)
    result["cold_start_s"] = statistics.median(starts)
    result["cold_start_cpu_s"] = statistics.median(start_cpus)
    return result


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(name: str, runs: list[tuple[float, float]]) -> dict[str, float]:
    return {f"{name}_s": statistics.median(wall for wall, _ in runs),
            f"{name}_cpu_s": statistics.median(cpu for _, cpu in runs)}


def cli_figures(server: bg.Server, run_dir: Path) -> dict:
    env = {**os.environ, "HOME": str(run_dir / "home-ours"), "CLAWDBOT_GATEWAY_TOKEN": server.token,
           "CLAWDBOT_GATEWAY_PORT": server.url.rsplit(":", 1)[1]}
    python = sys.executable
    helps = [timed([python, "-m", "moltbot", "--help"], env) for _ in range(3)]
    statuses = [timed([python, "-m", "moltbot", "status"], env) for _ in range(3)]
    closed = {**env, "CLAWDBOT_GATEWAY_PORT": str(bg.free_port())}  # nothing listens there
    refused = [timed([python, "-m", "moltbot", "status"], closed) for _ in range(3)]
    probe = subprocess.run([python, "-c", "import resource, moltbot.cli; r = resource.getrusage(resource.RUSAGE_SELF);"
                            "print(r.ru_utime + r.ru_stime)"], env=env, capture_output=True, text=True, timeout=60)
    return {**medians("help", helps), **medians("status", statuses), **medians("status_no_gateway", refused),
            "import_cli_cpu_s": float(probe.stdout.strip() or "nan")}


def mark(key: str, value: float | None) -> str:
    if value is None or key not in TARGETS:
        return ""
    return f"<= {TARGETS[key]} {'✓' if value <= TARGETS[key] else '✗'}"


async def run(args: argparse.Namespace, tmp: Path) -> dict:
    results = {"ours": await measure_server(bg.start_ours, "ours", tmp, args.runs, args.idle_seconds,
                                            warm_up=not args.no_bytecode)}
    if not args.no_original and bg.ORIGINAL_ENTRY.exists():
        try:
            results["original"] = await measure_server(bg.start_original, "original", tmp, args.runs,
                                                       args.idle_seconds)
        except (bg.BenchError, OSError) as exc:
            results["original"] = {"failed": repr(exc)}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-original", action="store_true")
    parser.add_argument("--no-bytecode", action="store_true", help="keep the environment's PYTHONDONTWRITEBYTECODE")
    args = parser.parse_args()
    if not (1 <= args.idle_seconds <= 600 and 1 <= args.runs <= 20):
        parser.error("--idle-seconds in [1, 600], --runs in [1, 20]")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="moltbot-lean-") as tmp:
        if not args.no_bytecode:  # inherited by every process started below
            os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        results = trio.run(run, args, Path(tmp))
    print("| figure | ours | original | target |\n| --- | --- | --- | --- |")
    for key in FIGURES:
        ours = results["ours"].get(key)
        original = results.get("original", {}).get(key)
        fmt = lambda v: "–" if v is None else f"{v:.3f}" if v < 10 else f"{v:.1f}"  # noqa: E731
        print(f"| {key} | {fmt(ours)} | {fmt(original)} | {mark(key, ours)} |")
    print(f"\nload average {tuple(round(x, 2) for x in load)} → {tuple(round(x, 2) for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs (shared: wall-time figures are inflated by the load); bytecode "
          f"{'as the environment has it' if args.no_bytecode else 'cached (as installed)'}")
    out = bg.RESULTS / "lean-latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

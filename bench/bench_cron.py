"""Cron scheduler overhead with many jobs, run by hand (not by pytest).

    python bench/bench_cron.py [--jobs 10000] [--burst 1000]

Builds ``--jobs`` jobs with a realistic mix (60 % cron expressions from a pool of 40 over 8 IANA zones, 25 %
``every`` with intervals from 1 min to 1 day, 10 % one-shots in the next month, 5 % disabled; a third of
them isolated agent turns) and measures:

- creating them (validation + the first next-run computation), and recomputing every next run from
  scratch (what a store without ``state`` costs at load), per schedule kind, against croniter's own
  iterator (construct + ``get_next``) for the same cron jobs;
- the next wake: ``CronService._next_wake()`` (heap peek) and one idle scheduler pass (nothing due:
  ``_take_due`` + ``_next_wake``), and rescheduling one job after a run (``claim`` + ``_put``);
- the store: ``jobs.json`` size, save, load (parse + strict structuring), and a service start (load +
  ``recover`` of every job + heap) from that file;
- RSS: a fresh child process with everything imported, then with the service running on that file
  (psutil; the difference is what the loaded jobs, their heap and the store's leftovers cost);
- a burst: ``--burst`` main-session jobs due at the same instant on a file store, run by the real
  scheduler: wall time until all have finished, and how many store writes that took (coalesced).

Prints a markdown table; writes everything to bench/results/cron.json (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil
import trio
from croniter import croniter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moltbot.cron.jobs import claim, create_job, next_after  # noqa: E402
from moltbot.cron.schedule import resolve_zone  # noqa: E402
from moltbot.cron.service import CronService  # noqa: E402
from moltbot.cron.store import FileCronStore  # noqa: E402
from moltbot.protocol import structure  # noqa: E402
from moltbot.protocol._payloads.cron import (  # noqa: E402
    CronAddParams,
    CronScheduleCron,
    CronScheduleEvery,
    normalize_cron_add,
)

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Europe/London",
]
EXPRESSIONS = [
    "0 9 * * 1-5",
    "*/5 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0 0 1 * *",
    "15 8,12,18 * * *",
    "0 9 * * 1",
    "*/15 9-17 * * 1-5",
    "0 22 * * 0",
    "45 6 * * *",
    "0 12 1,15 * *",
    "0 7 * * 6,0",
    "*/30 * * * *",
    "5 4 * * sun",
    "0 0 * * *",
    "0 8-18/2 * * 1-5",
    "10 10 10 * *",
    "0 3 * jan,jul *",
    "20 * * * *",
    "0 9 L * *",
    "0 9 * * 5#2",
    "*/10 6-22 * * *",
    "0 18 * * 1-4",
    "0 6 1-7 * 1",
    "1 1 * * *",
    "59 23 * * *",
    "0 0 29 2 *",
    "0 12 * * *",
    "*/2 * * * *",
    "0 */6 * * *",
    "0 9,21 * * *",
    "30 7 * * 1-5",
    "0 10 * * 2,4",
    "40 16 * * *",
    "0 5 15 * *",
    "0 14 * 3-10 *",
    "25 13 * * 3",
    "0 1 * * 1",
    "0 0 1 1 *",
    "50 8 * * 1-5",
]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class NullHost:
    def __init__(self, expect_finished: int = 0) -> None:
        self.events = 0
        self.finished = 0
        self.expect_finished = expect_finished
        self.all_finished = trio.Event()

    def system_event(self, text, agent_id) -> None:
        self.events += 1

    def wake(self) -> None:
        pass

    async def agent_turn(self, request):
        raise AssertionError("the burst has main-session jobs only")

    async def deliver(self, job, text):
        return "not-delivered", "no channels running"

    def emit(self, event) -> None:
        if event.action == "finished":
            self.finished += 1
            if self.finished == self.expect_finished:
                self.all_finished.set()


def make_params(rng: random.Random, now_ms: int, index: int) -> CronAddParams:
    roll = rng.random()
    isolated = rng.random() < 1 / 3
    payload = (
        {"kind": "agentTurn", "message": f"job {index}"}
        if isolated
        else {"kind": "systemEvent", "text": f"job {index}"}
    )
    if roll < 0.60:
        schedule = {"kind": "cron", "expr": rng.choice(EXPRESSIONS), "tz": rng.choice(ZONES)}
    elif roll < 0.85:
        schedule = {"kind": "every", "everyMs": rng.choice([60_000, 300_000, 900_000, 3_600_000, 86_400_000])}
    else:
        schedule = {"kind": "at", "atMs": now_ms + rng.randrange(60_000, 30 * 86_400_000)}
    raw = {"name": f"job {index}", "schedule": schedule, "payload": payload, "enabled": rng.random() >= 0.05}
    return structure(normalize_cron_add(raw), CronAddParams, what="params")


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def measure_schedules(jobs, now_ms: int) -> dict:
    results = {}
    for kind, schedule_type in (("cron", CronScheduleCron), ("every", CronScheduleEvery)):
        selected = [job for job in jobs if isinstance(job.schedule, schedule_type)]
        started = time.perf_counter()
        for job in selected:
            next_after(job, now_ms)
        elapsed = time.perf_counter() - started
        results[kind] = {
            "jobs": len(selected),
            "ms": elapsed * 1000,
            "us_per_job": elapsed / len(selected) * 1e6,
        }
    started = time.perf_counter()
    for job in jobs:
        next_after(job, now_ms)
    results["all"] = {"jobs": len(jobs), "ms": (time.perf_counter() - started) * 1000}
    cron_jobs = [job for job in jobs if isinstance(job.schedule, CronScheduleCron)][:2000]
    moment = datetime.fromtimestamp(now_ms / 1000)
    started = time.perf_counter()
    for job in cron_jobs:
        local = moment.astimezone(resolve_zone(job.schedule.tz))
        croniter(job.schedule.expr, local).get_next(datetime)
    elapsed = time.perf_counter() - started
    results["croniter_us_per_job"] = elapsed / len(cron_jobs) * 1e6
    return results


async def measure_service(jobs, now_ms: int, directory: Path, burst: int) -> dict:
    store = FileCronStore(directory / "jobs.json")
    started = time.perf_counter()
    store.save_sync(jobs, [])
    save_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    loaded = store.load_sync()
    load_ms = (time.perf_counter() - started) * 1000
    assert len(loaded.jobs) == len(jobs)
    results = {"file_mib": store.file.stat().st_size / 2**20, "save_ms": save_ms, "load_ms": load_ms}

    service = CronService(store, NullHost(), now_ms=lambda: now_ms, recheck=3600)
    async with trio.open_nursery() as nursery:
        started = time.perf_counter()
        await nursery.start(service.serve)
        results["start_ms"] = (time.perf_counter() - started) * 1000
        peeks = []
        for _ in range(2000):
            t0 = time.perf_counter_ns()
            service._next_wake()
            peeks.append((time.perf_counter_ns() - t0) / 1000)
        idle = []
        for _ in range(2000):
            t0 = time.perf_counter_ns()
            service._take_due(now_ms)
            service._next_wake()
            idle.append((time.perf_counter_ns() - t0) / 1000)
        enabled = [job for job in service.jobs.values() if job.enabled and job.state.next_run_at_ms]
        reschedule = []
        for job in enabled[:2000]:
            t0 = time.perf_counter_ns()
            service._put(claim(job, scheduled_ms=job.state.next_run_at_ms, now_ms=job.state.next_run_at_ms))
            reschedule.append((time.perf_counter_ns() - t0) / 1000)
        results.update(
            next_wake_us_p50=statistics.median(peeks),
            next_wake_us_p99=quantile(peeks, 0.99),
            idle_pass_us_p50=statistics.median(idle),
            idle_pass_us_p99=quantile(idle, 0.99),
            reschedule_us_p50=statistics.median(reschedule),
            reschedule_us_p99=quantile(reschedule, 0.99),
            heap_entries=len(service._heap),
        )
        nursery.cancel_scope.cancel()

    # The burst: `burst` main-session jobs due at the same instant, on the real clock and a file store.
    burst_store = FileCronStore(directory / "burst" / "jobs.json")
    host = NullHost(expect_finished=burst)
    wall = [int(time.time() * 1000)]
    burst_service = CronService(burst_store, host, now_ms=lambda: wall[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(burst_service.serve)
        for index in range(burst):
            params = structure(
                normalize_cron_add(
                    {
                        "name": f"b{index}",
                        "schedule": {"everyMs": 3_600_000},
                        "payload": {"kind": "systemEvent", "text": "b"},
                    }
                ),
                CronAddParams,
                what="params",
            )
            burst_service._put(create_job(params, job_id=f"b{index}", now_ms=wall[0]))
        await burst_service._save()
        saves_before = burst_service.statistics().saves
        wall[0] += 3_600_000
        started = time.perf_counter()
        burst_service._changed.set()
        with trio.fail_after(120):
            await host.all_finished.wait()
        results["burst"] = {
            "jobs": burst,
            "ms": (time.perf_counter() - started) * 1000,
            "saves": burst_service.statistics().saves - saves_before,
        }
        nursery.cancel_scope.cancel()
    return results


async def rss_child(path: Path) -> None:
    """In a fresh process: RSS with everything imported, then with a service running on ``path``."""
    before = rss_mib()
    async with trio.open_nursery() as nursery:
        await nursery.start(CronService(FileCronStore(path), NullHost(), recheck=3600).serve)
        print(json.dumps({"before": before, "loaded": rss_mib()}))
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        trio.run(rss_child, args.rss_child)
        return
    rng = random.Random(7)
    now_ms = int(time.time() * 1000)
    params = [make_params(rng, now_ms, index) for index in range(args.jobs)]
    started = time.perf_counter()
    jobs = [
        create_job(p, job_id=f"{index:08d}-bench", now_ms=now_ms - 1000) for index, p in enumerate(params)
    ]
    create_ms = (time.perf_counter() - started) * 1000
    schedules = measure_schedules(jobs, now_ms)
    with tempfile.TemporaryDirectory(prefix="moltbot-bench-cron-") as directory:
        service = trio.run(measure_service, jobs, now_ms, Path(directory), args.burst)
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(Path(directory) / "jobs.json")],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    rss = json.loads(child.stdout.strip().splitlines()[-1])
    rss_before = rss["before"]
    service["rss_loaded_mib"] = rss["loaded"]
    results = {
        "jobs": args.jobs,
        "create_ms": create_ms,
        "schedules": schedules,
        "service": service,
        "rss_before_mib": rss_before,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    rss_delta = service["rss_loaded_mib"] - rss_before
    rows = [
        ("jobs", f"{args.jobs:,}"),
        (
            "create (validate + first next run)",
            f"{create_ms:.0f} ms ({create_ms / args.jobs * 1000:.0f} µs/job)",
        ),
        ("recompute every next run", f"{schedules['all']['ms']:.0f} ms"),
        (
            "  cron jobs (ours)",
            f"{schedules['cron']['us_per_job']:.1f} µs/job ({schedules['cron']['jobs']:,} jobs)",
        ),
        ("  cron jobs (croniter iterator)", f"{schedules['croniter_us_per_job']:.1f} µs/job"),
        ("  every jobs", f"{schedules['every']['us_per_job']:.2f} µs/job"),
        (
            "next wake (heap peek)",
            f"p50 {service['next_wake_us_p50']:.2f} µs, p99 {service['next_wake_us_p99']:.2f} µs",
        ),
        (
            "idle scheduler pass",
            f"p50 {service['idle_pass_us_p50']:.2f} µs, p99 {service['idle_pass_us_p99']:.2f} µs",
        ),
        (
            "reschedule one job after a run",
            f"p50 {service['reschedule_us_p50']:.1f} µs, p99 {service['reschedule_us_p99']:.1f} µs",
        ),
        (
            "jobs.json",
            f"{service['file_mib']:.1f} MiB; save {service['save_ms']:.0f} ms, load {service['load_ms']:.0f} ms",
        ),
        ("service start (load + recover + heap)", f"{service['start_ms']:.0f} ms"),
        (
            "RSS",
            f"{rss_before:.0f} MiB before, {service['rss_loaded_mib']:.0f} MiB with the jobs loaded "
            f"(+{rss_delta:.0f} MiB, {rss_delta * 1024 / args.jobs:.1f} KiB/job)",
        ),
        (
            f"burst: {service['burst']['jobs']:,} jobs due at once",
            f"{service['burst']['ms']:.0f} ms, {service['burst']['saves']} store writes",
        ),
    ]
    print("| figure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} (2 cores shared with everything else on this machine)")
    out = Path(__file__).resolve().parent / "results" / "cron.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Browser control benchmark, run by hand (not by pytest): the figures of issue 22's closing note.

    python bench/bench_browser.py [--control-port 21402] [--cdp-range 18850-18899] [--rounds 30]

One gateway in this process (its port chosen by the kernel) with the browser control service on
``--control-port`` and profiles' CDP ports in ``--cdp-range``; a "medium" page (a heading, a nav of 30 links,
a 60-row table with a button per row, a form: ~450 elements) served by the canvas host. Measured over HTTP
with the gateway token, as a client of the control API would:

(a) profile cold start to first snapshot: ``POST /start`` (Chromium not running) → ``POST /tabs/open`` of
    the page → ``GET /snapshot``, each step's time and the total;
(b) snapshot of the medium page: characters, lines, refs; p50/p95 time over ``--rounds``;
(c) act round trip: ``click`` by ref on a row's button, p50/p95 over ``--rounds``;
(d) memory: this process's RSS with the service off and then on (nothing started: the service's own
    cost), and the idle profile's Chromium (every process of its group) as RSS and PSS sums, 3 s after
    its page loaded.

Prints a markdown table and writes bench/results/browser.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import attrs
import httpx
import psutil
import trio

from moltbot.config.model import (
    AuthConfig,
    BrowserConfig,
    CanvasHostConfig,
    Config,
    ControlUiConfig,
    GatewayConfig,
)
from moltbot.gateway.app import open_gateway

TOKEN = "bench-token-0123456789"


def medium_page() -> str:
    links = "".join(f'<li><a href="#s{i}">Section {i}</a></li>' for i in range(30))
    rows = "".join(
        f"<tr><td>Item {i}</td><td>{i * 7} units</td><td><button onclick=\"this.textContent='Done {i}'\">"
        f"Mark {i}</button></td></tr>"
        for i in range(60)
    )
    return (
        f"<!doctype html><html><head><title>Medium page</title></head><body><h1>Inventory</h1>"
        f"<nav><ul>{links}</ul></nav><table><thead><tr><th>Name</th><th>Qty</th><th>Action</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><form><label>Search <input name=q></label>"
        f"<label>Kind <select name=k><option>All</option><option>New</option></select></label>"
        f"<textarea aria-label=Notes></textarea><button type=button>Apply</button></form>"
        + "".join(f"<p id=s{i}>Paragraph {i} with some running text to read.</p>" for i in range(30))
        + "</body></html>"
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def group_memory(pid: int) -> tuple[float, float]:
    """RSS and PSS sums (MiB) of ``pid`` and its descendants."""
    rss = pss = 0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                info = proc.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return rss / 2**20, pss / 2**20


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    (tmp / "canvas").mkdir()
    (tmp / "canvas" / "index.html").write_text(medium_page())
    start, end = (int(p) for p in args.cdp_range.split("-"))
    browser = BrowserConfig(
        enabled=False,
        control_port=args.control_port,
        cdp_port_range=[start, end],
        headless=True,
        idle_timeout_ms=0,
    )
    config = Config(
        gateway=GatewayConfig(auth=AuthConfig(token=TOKEN), control_ui=ControlUiConfig(enabled=False)),
        canvas_host=CanvasHostConfig(root=str(tmp / "canvas"), port=0, live_reload=False),
        browser=browser,
        path=tmp / "moltbot.json",
        state_dir=tmp,
    )
    me = psutil.Process()
    out: dict = {}
    async with open_gateway(config, port=0, env={}) as gw:
        await trio.sleep(1)
        out["rss_service_off_mib"] = me.memory_info().rss / 2**20
        started = gw.runtime.browser.next_start()
        gw.runtime.apply_config(
            attrs.evolve(config, browser=attrs.evolve(browser, enabled=True)), ("restart-browser-control",)
        )
        await started.wait()
        await trio.sleep(1)
        out["rss_service_on_mib"] = me.memory_info().rss / 2**20
        page = f"http://127.0.0.1:{gw.canvas.port}/"
        async with httpx.AsyncClient(
            base_url=gw.runtime.browser.url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            t0 = time.perf_counter()
            (await http.post("/start")).raise_for_status()
            t1 = time.perf_counter()
            (await http.post("/tabs/open", json={"url": page})).raise_for_status()
            t2 = time.perf_counter()
            snap = (await http.get("/snapshot")).json()
            t3 = time.perf_counter()
            out["cold_start_ms"] = {
                "start": (t1 - t0) * 1000,
                "open": (t2 - t1) * 1000,
                "snapshot": (t3 - t2) * 1000,
                "total": (t3 - t0) * 1000,
            }
            out["snapshot_chars"] = len(snap["snapshot"])
            out["snapshot_lines"] = snap["stats"]["lines"]
            out["snapshot_refs"] = snap["stats"]["refs"]
            times = []
            for _ in range(args.rounds):
                a = time.perf_counter()
                (await http.get("/snapshot")).raise_for_status()
                times.append((time.perf_counter() - a) * 1000)
            out["snapshot_ms"] = {"p50": statistics.median(times), "p95": pct(times, 0.95)}
            line = next(x for x in snap["snapshot"].splitlines() if 'button "Mark 30"' in x)
            ref = line.split("[ref=")[1].split("]")[0]
            times = []
            for _ in range(args.rounds):
                a = time.perf_counter()
                (await http.post("/act", json={"kind": "click", "ref": ref})).raise_for_status()
                times.append((time.perf_counter() - a) * 1000)
            out["act_click_ms"] = {"p50": statistics.median(times), "p95": pct(times, 0.95)}
            pid = (await http.get("/")).json()["pid"]
            await trio.sleep(3)
            rss, pss = group_memory(pid)
            out["idle_profile_rss_mib"], out["idle_profile_pss_mib"] = rss, pss
            out["idle_profile_processes"] = 1 + len(psutil.Process(pid).children(recursive=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-port", type=int, default=21402)
    parser.add_argument("--cdp-range", default="18850-18899")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    out = trio.run(run, args)
    print("| figure | value |\n|---|---|")
    cold = out["cold_start_ms"]
    print(
        f"| cold start → first snapshot | {cold['total']:.0f} ms (start {cold['start']:.0f}, open {cold['open']:.0f},"
        f" snapshot {cold['snapshot']:.0f}) |"
    )
    print(
        f"| medium-page snapshot | {out['snapshot_chars']} chars, {out['snapshot_lines']} lines, "
        f"{out['snapshot_refs']} refs; p50 {out['snapshot_ms']['p50']:.1f} ms, p95 {out['snapshot_ms']['p95']:.1f} ms |"
    )
    print(
        f"| act click round trip | p50 {out['act_click_ms']['p50']:.1f} ms, p95 {out['act_click_ms']['p95']:.1f} ms |"
    )
    print(
        f"| gateway RSS, service off → on (idle) | {out['rss_service_off_mib']:.1f} → {out['rss_service_on_mib']:.1f} MiB |"
    )
    print(
        f"| idle profile ({out['idle_profile_processes']} processes) | RSS {out['idle_profile_rss_mib']:.0f} MiB, "
        f"PSS {out['idle_profile_pss_mib']:.0f} MiB |"
    )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "browser.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

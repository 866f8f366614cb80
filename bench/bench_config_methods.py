"""Config editing benchmark, run by hand (not by pytest): what config.get / config.set cost by file size.

    python bench/bench_config_methods.py [--repeat 5]

For JSON5 config files of growing size (agents and providers with secrets, a comment so the fast JSON
path is not taken; and the same content as plain JSON), times, in this process and without the
WebSocket: ``snapshot`` (config.get: read, parse, resolve, redact), ``prepare_replace`` with the
redacted text sent back (config.set with markers: restore in place, re-parse check, validate), and
``prepare_replace`` with plain text (no markers). Median of ``--repeat`` runs, in ms. The pure-Python
``json5`` parser dominates JSON5 files; plain JSON takes the C parser.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from moltbot.config.edit import prepare_replace, read_state, snapshot


def make_config(agents: int, providers: int) -> dict:
    return {
        "gateway": {"auth": {"token": "t" * 48}},
        "agents": {
            "list": [{"id": f"a{i}", "name": f"Agent {i}", "workspace": f"/w/{i}"} for i in range(agents)]
        },
        "models": {
            "providers": {
                f"p{i}": {"baseUrl": f"http://h{i}.test/v1", "apiKey": f"sk-{i:030d}"}
                for i in range(providers)
            }
        },
    }


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| format | bytes | config.get ms | config.set (markers) ms | config.set (plain) ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "moltbot.json"
        for agents, providers in ((5, 2), (30, 5), (120, 20)):
            body = json.dumps(make_config(agents, providers), indent=2)
            for form, text in (("JSON5", "// hand-edited\n" + body), ("JSON", body)):
                path.write_text(text)
                shown = snapshot(path, {}, Path(tmp))["raw"]
                base = read_state(path).hash
                get = median_ms(lambda: snapshot(path, {}, Path(tmp)), args.repeat)
                with_markers = median_ms(
                    lambda shown=shown, base=base: prepare_replace(
                        read_state(path), shown, base, {}, Path(tmp)
                    ),
                    args.repeat,
                )
                plain = median_ms(
                    lambda text=text, base=base: prepare_replace(read_state(path), text, base, {}, Path(tmp)),
                    args.repeat,
                )
                print(f"| {form} | {len(text)} | {get:.1f} | {with_markers:.1f} | {plain:.1f} |")


if __name__ == "__main__":
    main()

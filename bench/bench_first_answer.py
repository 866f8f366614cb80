"""Time to the first useful answer for a new user, and CLI start-up times; run by hand (not by pytest).

    python bench/bench_first_answer.py [--reps 5] [--port 21150]

A new user with an OpenAI-compatible provider, from a fresh ``HOME`` (a temporary folder), types:

    moltbot setup --provider openai --base-url http://127.0.0.1:<fake>/v1 --api-key-env OPENAI_API_KEY
    moltbot gateway                     # until it prints "listening on"
    moltbot agent -m "hello"            # until the streamed reply has ended

The provider is the fake OpenAI server of ``tests/fakes/openai.py`` (real HTTP and SSE on 127.0.0.1,
answering "Hello from the model!"), so the figure is our cost and not a model's. The key is in
``OPENAI_API_KEY`` as a user would export it. ``--port`` (``CLAWDBOT_GATEWAY_PORT``) only keeps the
gateway off the default 18789, which other gateways on this machine may use. Each step is timed from
its process start to its end (the gateway: to its listening line), and the total from the first
command to the reply. Then CLI start-up: ``moltbot --help`` and ``moltbot status`` (against the running
gateway) ``--reps`` times each, median and max. Only 127.0.0.1 is used; the gateway is stopped in
``finally``. Results go to stdout and bench/results/first_answer.json (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.fakes.openai import open_fake_openai, text_reply  # noqa: E402

MOLTBOT = [sys.executable, "-m", "moltbot"]
REPLY = ("Hello ", "from the ", "model!")
STEP_TIMEOUT = 120.0


def user_env(home: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLAWDBOT_", "MOLTBOT_", "OPENCLAW_"))
    }
    env.update(
        HOME=str(home), NO_COLOR="1", OPENAI_API_KEY="sk-bench-0123456789", CLAWDBOT_GATEWAY_PORT=str(port)
    )
    return env


async def timed(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    with trio.fail_after(STEP_TIMEOUT):
        result = await trio.run_process(
            [*MOLTBOT, *args],
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"moltbot {' '.join(args)} exited {result.returncode}:\n{result.stderr.decode()[-2000:]}"
        )
    return elapsed, result


async def start_gateway(env: dict[str, str]) -> tuple[float, trio.Process]:
    start = time.perf_counter()
    process = await trio.lowlevel.open_process(
        [*MOLTBOT, "gateway"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = bytearray()
    with trio.fail_after(STEP_TIMEOUT):
        while b"listening on" not in seen:
            chunk = await process.stderr.receive_some()
            if not chunk:
                raise RuntimeError(f"the gateway exited:\n{seen.decode(errors='replace')[-2000:]}")
            seen += chunk
    return time.perf_counter() - start, process


def spread(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000),
        "max_ms": round(max(samples) * 1000),
        "n": len(samples),
    }


async def run(reps: int, port: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="moltbot-bench-first-") as folder:
        env = user_env(Path(folder), port)
        async with open_fake_openai(default=text_reply(*REPLY)) as fake:
            total = time.perf_counter()
            setup_s, _ = await timed(
                env,
                "setup",
                "--provider",
                "openai",
                "--base-url",
                fake.base_url,
                "--api-key-env",
                "OPENAI_API_KEY",
            )
            gateway_s, gateway = await start_gateway(env)
            try:
                agent_s, answer = await timed(env, "agent", "-m", "hello")
                total_s = time.perf_counter() - total
                text = answer.stdout.decode()
                if "Hello from the model!" not in text:
                    raise RuntimeError(f"unexpected answer: {text!r}")
                report["first_answer"] = {
                    "setup_ms": round(setup_s * 1000),
                    "gateway_listening_ms": round(gateway_s * 1000),
                    "agent_ms": round(agent_s * 1000),
                    "total_ms": round(total_s * 1000),
                    "answer": text.strip(),
                    "provider_requests": len(fake.requests),
                }
                helps, statuses = [], []
                for _ in range(reps):
                    helps.append((await timed(env, "--help"))[0])
                    statuses.append((await timed(env, "status"))[0])
                report["cli_help"], report["cli_status"] = spread(helps), spread(statuses)
            finally:
                gateway.terminate()
                with trio.move_on_after(10):
                    await gateway.wait()
                if gateway.returncode is None:
                    gateway.kill()
                    await gateway.wait()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--port", type=int, default=21150, help="the gateway's port (CLAWDBOT_GATEWAY_PORT)")
    args = parser.parse_args()
    load = os.getloadavg()
    report = trio.run(run, max(1, min(args.reps, 50)), args.port)
    report["loadavg_before"] = [round(x, 2) for x in load]
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    first = report["first_answer"]
    print("| step (fresh HOME, OpenAI-compatible provider) | ms |\n| --- | --- |")
    print(
        f"| `moltbot setup --provider openai --base-url … --api-key-env OPENAI_API_KEY` | {first['setup_ms']} |"
    )
    print(f"| `moltbot gateway` → listening | {first['gateway_listening_ms']} |")
    print(f"| `moltbot agent -m hello` → streamed answer ended | {first['agent_ms']} |")
    print(f"| total, first command → answer (typing time excluded) | {first['total_ms']} |")
    print(
        f"| `moltbot --help` (median / max of {report['cli_help']['n']}) | "
        f"{report['cli_help']['median_ms']} / {report['cli_help']['max_ms']} |"
    )
    print(
        f"| `moltbot status` against the gateway (median / max) | "
        f"{report['cli_status']['median_ms']} / {report['cli_status']['max_ms']} |"
    )
    print(
        f"\nanswer: {first['answer']!r}; load average before/after {report['loadavg_before']} / "
        f"{report['loadavg_after']} ({os.cpu_count()} cores)"
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "first_answer.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

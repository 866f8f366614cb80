"""Benchmark (by hand): streamed tokens/s and time to first byte through ``/v1/chat/completions``,
compared in the same run with calling the fake model provider directly.

    python bench/bench_http.py [--tokens 400] [--rounds 20]

A fake OpenAI-compatible server (tests/fakes/openai.py, its own process) streams a fixed reply of
``--tokens`` chunks as fast as it can. Direct: this process streams it with httpx. Through the gateway:
the gateway (its own process) is configured with that fake as its model provider, and this process
streams ``/v1/chat/completions`` with httpx. Targets (issue 5): ≥ 90 % of the direct tokens/s, ≤ 3 ms
added time to first byte.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789"
FAKE = r"""
import sys, trio
sys.path.insert(0, sys.argv[1])
from tests.fakes.openai import open_fake_openai, text_reply
tokens = int(sys.argv[2])
async def main():
    reply = text_reply(*[f"tok{i} " for i in range(tokens)])
    async with open_fake_openai(default=reply) as fake:
        print(fake.base_url, flush=True)
        await trio.sleep_forever()
trio.run(main)
"""


async def _read_line(stream, pattern: str, limit: float = 20) -> str:
    seen = b""
    with trio.fail_after(limit):
        while not (match := re.search(pattern.encode(), seen)):
            chunk = await stream.receive_some()
            if not chunk:
                raise RuntimeError(f"process ended before printing {pattern}: {seen[-500:]!r}")
            seen += chunk
    return match.group(1).decode()


async def _measure(client: httpx.AsyncClient, url: str, body: dict, headers: dict, rounds: int) -> dict:
    ttfb, rates = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        first = None
        tokens = 0
        async with client.stream("POST", url, json=body, headers=headers) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"]
                if delta and delta[0]["delta"].get("content"):
                    if first is None:
                        first = time.perf_counter() - started
                    tokens += 1
        total = time.perf_counter() - started
        ttfb.append(first * 1000)
        rates.append(tokens / total)
    return {
        "ttfb_p50_ms": statistics.median(ttfb),
        "ttfb_p90_ms": sorted(ttfb)[int(len(ttfb) * 0.9) - 1],
        "tokens_per_s": statistics.median(rates),
        "tokens": tokens,
    }


async def main(tokens: int, rounds: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="moltbot-bench-http-"))
    fake = await trio.lowlevel.open_process(
        [sys.executable, "-c", FAKE, str(ROOT), str(tokens)], stdout=subprocess.PIPE
    )
    gateway = None
    try:
        base_url = await _read_line(fake.stdout, r"(http://\S+/v1)")
        config_dir = home / ".clawdbot"
        config_dir.mkdir()
        (config_dir / "moltbot.json").write_text(
            json.dumps(
                {
                    "gateway": {
                        "mode": "local",
                        "auth": {"token": TOKEN},
                        "http": {"endpoints": {"chatCompletions": {"enabled": True}}},
                    },
                    "agents": {"defaults": {"model": "fake/fake-model"}},
                    "models": {
                        "providers": {
                            "fake": {"baseUrl": base_url, "apiKey": "sk-x", "api": "openai-completions"}
                        }
                    },
                }
            )
        )
        env = {**os.environ, "HOME": str(home), "CLAWDBOT_ALLOW_MULTI_GATEWAY": "1"}
        gateway = await trio.lowlevel.open_process(
            [sys.executable, "-m", "moltbot", "gateway", "--port", "0"], env=env, stderr=subprocess.PIPE
        )
        ws_url = await _read_line(gateway.stderr, r"listening on (ws://127\.0\.0\.1:\d+)")
        http_url = ws_url.replace("ws://", "http://")
        body = {
            "model": "fake-model",
            "stream": True,
            "messages": [{"role": "user", "content": "go"}],
            "stream_options": {"include_usage": True},
        }
        async with httpx.AsyncClient(timeout=60) as client:
            await _measure(client, f"{base_url}/chat/completions", body, {"authorization": "Bearer sk-x"}, 2)
            direct = await _measure(
                client, f"{base_url}/chat/completions", body, {"authorization": "Bearer sk-x"}, rounds
            )
            gw_body = {"model": "moltbot", "stream": True, "messages": [{"role": "user", "content": "go"}]}
            auth = {"authorization": f"Bearer {TOKEN}"}
            await _measure(client, f"{http_url}/v1/chat/completions", gw_body, auth, 2)
            through = await _measure(client, f"{http_url}/v1/chat/completions", gw_body, auth, rounds)
        ratio = through["tokens_per_s"] / direct["tokens_per_s"]
        added = through["ttfb_p50_ms"] - direct["ttfb_p50_ms"]
        print("| figure | direct (fake provider) | through the gateway | target |\n| --- | --- | --- | --- |")
        print(
            f"| streamed tokens/s (p50 of {rounds}) | {direct['tokens_per_s']:,.0f} | "
            f"{through['tokens_per_s']:,.0f} ({ratio:.0%}) | ≥ 90 % {'✓' if ratio >= 0.9 else '✗'} |"
        )
        print(
            f"| time to first token p50 / p90 (ms) | {direct['ttfb_p50_ms']:.2f} / {direct['ttfb_p90_ms']:.2f} | "
            f"{through['ttfb_p50_ms']:.2f} / {through['ttfb_p90_ms']:.2f} | added ≤ 3 ms: {added:+.2f} "
            f"{'✓' if added <= 3 else '✗'} |"
        )
        print(f"tokens per reply: {direct['tokens']} direct, {through['tokens']} through the gateway")
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / "http.json").write_text(json.dumps({"direct": direct, "gateway": through}, indent=2))
    finally:
        for process in (gateway, fake):
            if process is not None:
                process.kill()
                await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    trio.run(main, args.tokens, args.rounds)

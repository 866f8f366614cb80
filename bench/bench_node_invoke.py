"""node.invoke round trip through the gateway: operator → gateway → node.invoke.request → node →
node.invoke.result → gateway → operator, on loopback (by hand; not part of the test suite).

    python bench/bench_node_invoke.py [--invokes 2000] [--concurrency 1] [--command system.notify]

Starts an in-process gateway on 127.0.0.1 (port 0), a headless node (``moltbot.nodes.host.NodeHost``,
local, so it is paired silently) and an operator client, then times each ``node.invoke``. Prints p50/p90/
p99/max in milliseconds and the rate. Everything stays on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moltbot.client import open_gateway_client  # noqa: E402
from moltbot.config.model import AuthConfig, Config, GatewayConfig  # noqa: E402
from moltbot.gateway.app import open_gateway  # noqa: E402
from moltbot.nodes.host import NodeHost  # noqa: E402
from moltbot.protocol._device import DeviceKeyPair  # noqa: E402

TOKEN = "bench-token-0123456789"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main(invokes: int, concurrency: int, command: str) -> None:
    params = {"title": "bench", "body": "x"} if command == "system.notify" else {"bins": ["sh"]}
    with tempfile.TemporaryDirectory() as state:
        config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=Path(state))
        async with open_gateway(config, port=0, env={}) as gateway, trio.open_nursery() as nursery:
            identity = DeviceKeyPair.generate()
            host = NodeHost(gateway.url, identity, token=TOKEN)
            host.notifications = _Discard()
            await nursery.start(host.serve)
            async with open_gateway_client(gateway.url, token=TOKEN) as operator:
                body = {
                    "nodeId": identity.device_id,
                    "command": command,
                    "params": params,
                    "idempotencyKey": "b",
                }
                for _ in range(min(200, invokes)):  # warm up
                    await operator.call("node.invoke", body)
                samples: list[float] = []
                remaining = iter(range(invokes))

                async def worker() -> None:
                    for _ in remaining:
                        start = time.perf_counter()
                        await operator.call("node.invoke", body)
                        samples.append((time.perf_counter() - start) * 1000)

                started = time.perf_counter()
                with trio.fail_after(300):
                    async with trio.open_nursery() as workers:
                        for _ in range(concurrency):
                            workers.start_soon(worker)
                elapsed = time.perf_counter() - started
            nursery.cancel_scope.cancel()
    print(
        f"node.invoke {command} x{invokes}, concurrency {concurrency}: "
        f"p50 {percentile(samples, 0.5):.3f} ms, p90 {percentile(samples, 0.9):.3f} ms, "
        f"p99 {percentile(samples, 0.99):.3f} ms, max {max(samples):.3f} ms, "
        f"mean {statistics.fmean(samples):.3f} ms, {invokes / elapsed:.0f} invokes/s"
    )


class _Discard(list):
    def append(self, item) -> None:  # keep memory flat over long runs
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--command", default="system.notify", choices=["system.notify", "system.which"])
    args = parser.parse_args()
    trio.run(main, args.invokes, args.concurrency, args.command)

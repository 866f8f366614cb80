"""Channel benchmark, run by hand (not by pytest): Telegram messages through the gateway to a delivered reply.

    python bench/bench_channels.py [--seconds 10] [--chats 100] [--dm-scope per-channel-peer]
                                   [--max-concurrent N] [--accounts 20] [--py-spy]

The fake Telegram Bot API (``tests/fakes/telegram.py``: real HTTP on loopback, the real JSON shapes) runs in
this process; the gateway runs as its own process (``python -m moltbot gateway``, temporary HOME) with the
Telegram channel pointed at the fake (``apiRoot``), ``dmPolicy: open`` and the offline echo agent. Each of
``--chats`` (100) chats is a worker that puts a DM into the fake's update queue, waits until the fake sees
the gateway's ``sendMessage`` for that chat, and sends the next one (closed loop: 100 messages in flight).
The gateway long-polls ``getUpdates``, routes each message (``bindings``/``session.dmScope``), runs an echo
turn on the session's lane and sends the reply through the same account.

Figures, after a warm-up in which every chat has had one reply: messages/s answered in ``--seconds``, and
end-to-end latency p50/p99/max (update queued → ``sendMessage`` received by the fake), plus the CPU used
by the gateway and by this process (the fake and the workers) per message. ``--dm-scope`` defaults to
``per-channel-peer`` (one session per chat, what a multi-user bot is configured with); with ``main`` every
DM shares one session, so the turns run one at a time. ``--max-concurrent`` sets
``agents.defaults.maxConcurrent`` (default: the gateway's own, 4). ``--py-spy`` samples the gateway into
``bench/results/py-spy-channels.txt`` (figures then perturbed). Then RSS per connected account: the gateway
with one bot account long-polling the fake, then with ``--accounts`` (20) more (each its own token and
poller), settled; the difference per account (``--accounts 0`` skips it). Results go to
``bench/results/channels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import attrs
import trio

THIS = Path(__file__).resolve()
HERE = THIS.parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_agents as ba  # noqa: E402  (gateway process handling, CPU meter)
import bench_gateway as bg  # noqa: E402

from tests.fakes.telegram import FakeBot, open_fake_telegram  # noqa: E402

BOT_TOKEN = "4242:bench-bot-token"
REPLY_TIMEOUT = 60.0
WARMUP_MAX = 60.0


@attrs.define(eq=False)
class TimedBot(FakeBot):
    """The fake bot, noting when each ``sendMessage`` arrives and waking the chat's worker."""

    waiting: dict[int, tuple[trio.Event, list[float]]] = attrs.field(factory=dict)
    unexpected: int = 0

    async def answer(self, method: str, body: dict[str, Any], disconnected: trio.Event) -> tuple[int, dict]:
        if method == "sendMessage":
            seen = time.perf_counter()
            waiter = self.waiting.pop(int(body.get("chat_id", 0)), None)
            if waiter is None:
                self.unexpected += 1
            else:
                waiter[1].append(seen)
                waiter[0].set()
        return await super().answer(method, body, disconnected)

    async def round_trip(self, chat: int, text: str) -> float:
        """Queue ``text`` from ``chat``, wait for the reply; returns the seconds in between."""
        event, seen = trio.Event(), []
        self.waiting[chat] = (event, seen)
        started = time.perf_counter()
        self.push_message(chat_id=chat, user_id=chat, text=text)
        with trio.fail_after(REPLY_TIMEOUT):
            await event.wait()
        return seen[0] - started


def _trim(bot: FakeBot) -> None:
    """The fake keeps every call and sent message; a long run need not."""
    del bot.calls[:-1000]
    del bot.sent[:-1000]


async def measure(chats: TimedBot, count: int, seconds: float, meter: ba.CpuMeter) -> dict[str, Any]:
    samples: list[float] = []
    completions: list[float] = []
    warmed = trio.Event()
    warm = 0
    window: dict[str, float] = {}

    async def worker(chat: int) -> None:
        nonlocal warm
        sequence = 0
        await chats.round_trip(chat, f"hello {sequence}")
        warm += 1
        if warm == count:
            warmed.set()
        await warmed.wait()
        while True:
            sequence += 1
            latency = await chats.round_trip(chat, f"message {sequence} from chat {chat}")
            finished = time.perf_counter()
            if "start" in window and finished >= window["start"]:
                samples.append(latency)
                completions.append(finished)
            if sequence % 200 == 0:
                _trim(chats)

    async with trio.open_nursery() as nursery:
        for chat in range(1, count + 1):
            nursery.start_soon(worker, 10_000 + chat)
        with trio.fail_after(WARMUP_MAX):
            await warmed.wait()
        window["start"] = time.perf_counter()
        meter.begin()
        await trio.sleep(seconds)
        meter.end()
        nursery.cancel_scope.cancel()
    done = [t for t in completions if t < window["start"] + seconds]
    kept = samples[: len(done)]
    out: dict[str, Any] = {
        "chats": count,
        "seconds": seconds,
        "messages": len(done),
        "messages_per_s": round(len(done) / seconds, 1),
        **bg.latency_summary(kept),
    }
    out.update(meter.summary(len(done)))
    out["unexpected_sends"] = chats.unexpected
    return out


def gateway_config(args: argparse.Namespace, api_root: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": api_root, "dmPolicy": "open"}},
        "session": {"dmScope": args.dm_scope},
    }
    if args.max_concurrent:
        config["agents"] = {"defaults": {"maxConcurrent": args.max_concurrent}}
    return config


async def run(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    async with open_fake_telegram() as fake:
        bot = fake.bots[BOT_TOKEN] = TimedBot(BOT_TOKEN, 4242, "bench_bot")
        server = await ba.start_gateway("gateway", tmp, registry, gateway_config(args, fake.url))
        with trio.fail_after(ba.START_TIMEOUT):
            await bot.wait_for(lambda: bot.polls_in_flight >= 1)
        profiler = bg.PySpy(server.pid, RESULTS / "py-spy-channels.txt") if args.py_spy else None
        meter = ba.CpuMeter({"gateway": server})
        if profiler is not None:
            profiler.start(args.seconds + 5)
        result = await measure(bot, args.chats, args.seconds, meter)
        if profiler is not None:
            profiler.finish()
        result["gateway_findings"] = ba.stop(server, registry)
        result["conflicts_409"] = bot.conflicts
        result["http_connections_to_fake"] = fake.connections
    if args.accounts:
        result["rss"] = await rss_per_account(args, tmp, registry)
    return result


def accounts_config(api_root: str, count: int) -> dict[str, Any]:
    accounts = {
        ("default" if i == 0 else f"a{i}"): {
            "botToken": f"{5000 + i}:bench-rss-token",
            "apiRoot": api_root,
            "dmPolicy": "open",
        }
        for i in range(count)
    }
    return {"channels": {"telegram": {"accounts": accounts}}}


async def rss_per_account(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    """The gateway's settled RSS with 1 and with 1 + ``--accounts`` bot accounts polling the fake."""
    out: dict[str, Any] = {}
    raw: dict[str, int] = {}
    for label, count in (("one", 1), ("many", 1 + args.accounts)):
        async with open_fake_telegram() as fake:
            bots = []
            for i in range(count):
                token = f"{5000 + i}:bench-rss-token"
                bots.append(FakeBot(token, 5000 + i, f"bench_rss_{i}_bot"))
                fake.bots[token] = bots[-1]
            server = await ba.start_gateway(f"rss-{label}", tmp, registry, accounts_config(fake.url, count))
            with trio.fail_after(ba.START_TIMEOUT * 2):
                for bot in bots:
                    await bot.wait_for(lambda bot=bot: bot.polls_in_flight >= 1)
            raw[label] = await bg.settled_rss(server)
            out[f"rss_mb_{label}"] = round(raw[label] / 2**20, 1)
            out[f"accounts_{label}"] = count
            ba.stop(server, registry)
    out["rss_kb_per_account"] = round((raw["many"] - raw["one"]) / 1024 / args.accounts, 1)
    return out


def table(result: dict[str, Any], args: argparse.Namespace) -> str:
    cpu = result.get("cpu_us_per_turn", {})
    share = result.get("cpu_percent", {})
    rows = [
        ("chats (messages in flight)", result["chats"]),
        ("session.dmScope", args.dm_scope),
        ("agents.defaults.maxConcurrent", args.max_concurrent or "default (4)"),
        ("messages answered / s", result["messages_per_s"]),
        ("end-to-end p50 ms", result["p50_ms"]),
        ("end-to-end p99 ms", result["p99_ms"]),
        ("end-to-end max ms", result["max_ms"]),
        ("gateway CPU µs / message", cpu.get("gateway")),
        ("bench+fake CPU µs / message", cpu.get("client")),
        (
            "CPU % gateway / bench+fake / other",
            f"{share.get('gateway')} / {share.get('client')} / {share.get('other')}",
        ),
        ("replies to no waiting chat", result["unexpected_sends"]),
        ("getUpdates 409s", result["conflicts_409"]),
        ("HTTP connections opened to the fake", result["http_connections_to_fake"]),
    ]
    memory = result.get("rss")
    if memory:
        rows += [
            (
                f"gateway RSS MB, {memory['accounts_one']} / {memory['accounts_many']} accounts polling",
                f"{memory['rss_mb_one']} / {memory['rss_mb_many']}",
            ),
            ("RSS KB per connected account", memory["rss_kb_per_account"]),
        ]
    return "\n".join(["| figure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument(
        "--dm-scope",
        default="per-channel-peer",
        choices=("main", "per-peer", "per-channel-peer", "per-account-channel-peer"),
    )
    parser.add_argument("--max-concurrent", type=int, default=0)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--py-spy", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    bg.raise_fd_limit(args.chats * 4 + 256)
    registry: list[bg.Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp:
        try:
            result = trio.run(run, args, Path(tmp), registry)
        except Exception:
            traceback.print_exc()
            return 1
        finally:
            for server in registry:
                bg.stop_server(server)
    result["args"] = vars(args)
    result["load_average"] = os.getloadavg()
    (RESULTS / "channels.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(result, args))
    print(f"\nload average {os.getloadavg()[0]:.2f}; full results in {RESULTS / 'channels.json'}")
    for finding in result.get("gateway_findings") or []:
        print("gateway log:", finding)
    return 0


if __name__ == "__main__":
    sys.exit(main())

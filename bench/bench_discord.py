"""Discord benchmark, run by hand (not by pytest): DMs through the gateway to a delivered reply, memory per
connected account, and duplicates when the gateway is killed during delivery.

    python bench/bench_discord.py [--seconds 10] [--chats 100] [--max-concurrent 100] [--accounts 20]
                                  [--kills 20] [--kill-chats 10] [--send-delay-ms 20] [--no-nonce]
                                  [--restarts 100] [--skip-throughput] [--skip-rss] [--skip-kills]
                                  [--skip-restarts] [--keep]

The fake Discord (``tests/fakes/discord.py``: a real WebSocket gateway and HTTP REST API on loopback,
the real JSON frames) runs in this process; the gateway runs as its own process (``python -m moltbot
gateway``, temporary HOME) with ``channels.discord.apiBase`` pointed at the fake, ``dmPolicy: open``,
``session.dmScope: per-channel-peer`` and the offline echo agent.

1. **Throughput**: each of ``--chats`` DM channels is a worker that dispatches a ``MESSAGE_CREATE`` on the
   gateway socket, waits until the fake has the reply (``POST /channels/{id}/messages``) and sends the
   next (closed loop). After a warm-up: messages answered per second over ``--seconds``, end-to-end p50/p99
   (dispatch → reply created), CPU per message.
2. **RSS per connected account**: the gateway's RSS with one Discord account connected, then with
   ``--accounts`` more (each its own gateway session); the difference per account.
3. **kill -9 during delivery** (``--kills``): ``--kill-chats`` chats in a closed loop, each reply's create
   answered ``--send-delay-ms`` after the message exists (a request in flight to kill); the gateway is
   killed with SIGKILL at random moments and started again. Once the chats stop, every message's replies
   are counted: 0 is a loss, 2+ a duplicate. ``--no-nonce`` makes the fake ignore ``enforce_nonce`` (what
   a send without an idempotency check would do), for comparison.
4. **Restarts** (``--restarts``, in this process): the same chats against a gateway opened with
   ``open_gateway`` on one state dir, restarted alternately in-process (``request_restart``) and stopped and
   opened again, at random moments (0.05–0.4 s apart); replies per message counted as in 3.

Results go to ``bench/results/discord.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import trio

THIS = Path(__file__).resolve()
HERE = THIS.parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_agents as ba  # noqa: E402
import bench_gateway as bg  # noqa: E402
from restart_churn import churn  # noqa: E402

from tests.fakes.discord import FakeDiscord, open_fake_discord  # noqa: E402

BOT_TOKEN = "MTAw.bench-discord.token"
REPLY_TIMEOUT = 60.0
WARMUP_MAX = 120.0
SETTLE_TIMEOUT = 120.0
ONE_TURN_PER_MESSAGE = {
    "session": {"dmScope": "per-channel-peer"},
    "messages": {"queue": {"mode": "followup"}},
}


def channel_of(chat: int) -> str:
    return str(410_000_000_000_000_000 + chat)


def user_of(chat: int) -> str:
    return str(310_000_000_000_000_000 + chat)


class Waiters:
    """Wakes the worker of a DM channel when the fake creates a message there."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.waiting: dict[str, tuple[trio.Event, list[float]]] = {}
        self.unexpected = 0
        fake.on_create = self._created

    def _created(self, message: dict[str, Any]) -> None:
        waiter = self.waiting.pop(message["channel_id"], None)
        if waiter is None:
            self.unexpected += 1
            return
        waiter[1].append(time.perf_counter())
        waiter[0].set()

    async def round_trip(self, chat: int, text: str) -> float:
        channel = channel_of(chat)
        event, seen = trio.Event(), []
        self.waiting[channel] = (event, seen)
        started = time.perf_counter()
        self.fake.push_message(channel_id=channel, author=user_of(chat), content=text)
        with trio.fail_after(REPLY_TIMEOUT):
            await event.wait()
        return seen[0] - started


def config(api_base: str, accounts: int = 1, **extra: Any) -> dict[str, Any]:
    discord: dict[str, Any] = {"apiBase": api_base, "dmPolicy": "open", "allowFrom": ["*"]}
    if accounts == 1:
        discord["token"] = BOT_TOKEN
    else:
        discord["accounts"] = {
            ("default" if i == 0 else f"a{i}"): {
                "token": BOT_TOKEN,
                "apiBase": api_base,
                "dmPolicy": "open",
                "allowFrom": ["*"],
            }
            for i in range(accounts)
        }
    return {"channels": {"discord": discord}, **ONE_TURN_PER_MESSAGE, **extra}


def add_chats(fake: FakeDiscord, count: int) -> None:
    for chat in range(1, count + 1):
        fake.channels[channel_of(chat)] = {"id": channel_of(chat), "type": 1}


def all_answered(counts: Counter[str], texts: list[str]) -> bool:
    """Whether every text has a reply. The counts are made once per check: this runs in the fake's own
    event loop at each change, and counting the replies again for each text (quadratic: 2 million
    string splits per check at 1,400 messages) held the fake for seconds at a time, so the last gateway
    of a run could not connect or get answers before the deadline, and its messages counted as lost."""
    return all(counts[t] for t in texts)


def trim(fake: FakeDiscord) -> None:
    del fake.requests[:-1000]
    del fake.request_times[:-1000]
    del fake.typing[:-1000]


# --- 1. throughput -----------------------------------------------------------------------------------------


async def throughput(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    async with open_fake_discord(BOT_TOKEN) as fake:
        add_chats(fake, args.chats)
        waiters = Waiters(fake)
        extra = (
            {"agents": {"defaults": {"maxConcurrent": args.max_concurrent}}} if args.max_concurrent else {}
        )
        server = await ba.start_gateway("throughput", tmp, registry, config(fake.api_base, **extra))
        with trio.fail_after(ba.START_TIMEOUT):
            await fake.wait_for(lambda: fake.live and fake.live[-1].session)
        meter = ba.CpuMeter({"gateway": server})
        samples: list[float] = []
        completions: list[float] = []
        warmed, window = trio.Event(), {}
        warm = 0

        async def worker(chat: int) -> None:
            nonlocal warm
            await waiters.round_trip(chat, "hello 0")
            warm += 1
            if warm == args.chats:
                warmed.set()
            await warmed.wait()
            sequence = 0
            while True:
                sequence += 1
                latency = await waiters.round_trip(chat, f"message {sequence} from chat {chat}")
                finished = time.perf_counter()
                if "start" in window and finished >= window["start"]:
                    samples.append(latency)
                    completions.append(finished)
                if sequence % 100 == 0:
                    trim(fake)

        async with trio.open_nursery() as nursery:
            for chat in range(1, args.chats + 1):
                nursery.start_soon(worker, chat)
            with trio.fail_after(WARMUP_MAX):
                await warmed.wait()
            window["start"] = time.perf_counter()
            meter.begin()
            await trio.sleep(args.seconds)
            meter.end()
            nursery.cancel_scope.cancel()
        done = [t for t in completions if t < window["start"] + args.seconds]
        out: dict[str, Any] = {
            "chats": args.chats,
            "seconds": args.seconds,
            "messages": len(done),
            "messages_per_s": round(len(done) / args.seconds, 1),
            **bg.latency_summary(samples[: len(done)]),
            **meter.summary(len(done)),
            "unexpected_creates": waiters.unexpected,
            "rate_limited": fake.rate_limited,
        }
        out["gateway_findings"] = ba.stop(server, registry)
        return out


# --- 2. RSS per connected account ----------------------------------------------------------------------------


async def rss(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw: dict[str, int] = {}
    for label, accounts in (("one", 1), ("many", 1 + args.accounts)):
        async with open_fake_discord(BOT_TOKEN) as fake:
            server = await ba.start_gateway(f"rss-{label}", tmp, registry, config(fake.api_base, accounts))
            with trio.fail_after(ba.START_TIMEOUT * 2):
                await fake.wait_for(lambda n=accounts: sum(1 for c in fake.live if c.session) >= n)
            await trio.sleep(2.0)  # let start-up garbage settle
            raw[label] = psutil.Process(server.pid).memory_info().rss
            out[f"rss_mb_{label}"] = round(raw[label] / 2**20, 1)
            out[f"accounts_{label}"] = accounts
            ba.stop(server, registry)
    out["rss_kb_per_account"] = round((raw["many"] - raw["one"]) / 1024 / args.accounts, 1)
    return out


# --- 3. kill -9 during delivery -----------------------------------------------------------------------------


async def spawn_gateway(home: Path, tmp: Path, run: int, registry: list[bg.Server]) -> bg.Server:
    server = bg._spawn(
        f"gateway-{run}",
        [
            sys.executable,
            "-m",
            "moltbot",
            "gateway",
            "--allow-unconfigured",
            "--port",
            "0",
            "--token",
            ba.TOKEN,
        ],
        ba._child_env(home),
        tmp / f"gateway-{run}.log",
        home,
    )
    registry.append(server)
    await bg._wait_for_line(server, bg._LISTENING, ba.START_TIMEOUT)
    return server


async def kills(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    home = tmp / "home-kills"
    async with open_fake_discord(BOT_TOKEN) as fake:
        fake.create_delay, fake.honour_nonce = args.send_delay_ms / 1000, not args.no_nonce
        add_chats(fake, args.kill_chats)
        ba._write_config(home, config(fake.api_base))
        sent_texts: list[str] = []
        pushed: dict[str, dict[str, Any]] = {}  # text → its message id, when and in which run it was sent
        kill_times: list[float] = []
        run_now = 0
        running = True

        def replies() -> Counter[str]:
            return Counter(m["content"].rsplit("You said: ", 1)[-1] for m in fake.messages)

        async def chat(number: int) -> None:
            sequence = 0
            while running:
                if fake.live and fake.live[-1].session:
                    text = f"m{number}-{sequence}"
                    sent_texts.append(text)
                    data = fake.push_message(
                        channel_id=channel_of(number), author=user_of(number), content=text
                    )
                    live = fake.live[-1]
                    pushed[text] = {
                        "id": data["id"],
                        "at": round(time.perf_counter() - started, 3),
                        "run": run_now,
                        "session": live.session,
                        "path": live.path,
                    }
                    sequence += 1
                    with trio.move_on_after(3.0):  # a message lost with a socket must not stop this chat
                        await fake.wait_for(
                            lambda t=text: any(m["content"].endswith(f": {t}") for m in fake.messages[-50:])
                        )
                else:
                    await fake.changed.wait()

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            server = await spawn_gateway(home, tmp, 0, registry)
            for number in range(1, args.kill_chats + 1):
                nursery.start_soon(chat, number)
            for run in range(1, args.kills + 1):
                await trio.sleep(random.uniform(0.5, 2.0))
                os.kill(server.pid, signal.SIGKILL)
                kill_times.append(round(time.perf_counter() - started, 3))
                if server.popen is not None:
                    server.popen.wait()
                registry.remove(server)
                run_now = run
                server = await spawn_gateway(home, tmp, run, registry)
            running = False
            with trio.move_on_after(SETTLE_TIMEOUT):
                await fake.wait_for(lambda: all_answered(replies(), sent_texts))
            nursery.cancel_scope.cancel()
        ba.stop(server, registry)
        counts = replies()
        lost = [t for t in sent_texts if counts[t] == 0]
        duplicated = {t: counts[t] for t in sent_texts if counts[t] > 1}
        return {
            "messages": len(sent_texts),
            "replies": sum(counts.values()),
            "unanswered": len(lost),
            "duplicated": len(duplicated),
            "duplicated_examples": dict(list(duplicated.items())[:5]),
            "unanswered_examples": lost[:5],
            "unanswered_detail": {t: pushed.get(t) for t in lost[:5]},
            "kill_times": kill_times,
            "identifies": len(fake.identifies),
            "resumes": len(fake.resumes),
            "kills": args.kills,
            "nonce_honoured": not args.no_nonce,
            "seconds": round(time.perf_counter() - started, 1),
        }


# --- 4. restarts in this process ---------------------------------------------------------------------------


async def restarts(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from moltbot.config.model import (
        AuthConfig,
        ChannelsConfig,
        Config,
        DiscordConfig,
        GatewayConfig,
        MessagesConfig,
        QueueConfig,
        SessionConfig,
    )
    from moltbot.gateway.app import open_gateway

    async with open_fake_discord(BOT_TOKEN) as fake:
        fake.create_delay = args.send_delay_ms / 1000
        add_chats(fake, args.kill_chats)
        config = Config(
            gateway=GatewayConfig(auth=AuthConfig(token=ba.TOKEN)),
            state_dir=tmp / "restarts-state",
            channels=ChannelsConfig(
                discord=DiscordConfig(
                    token=BOT_TOKEN, api_base=fake.api_base, dm_policy="open", allow_from=["*"]
                )
            ),
            session=SessionConfig(dm_scope="per-channel-peer"),
            messages=MessagesConfig(queue=QueueConfig(mode="followup")),
        )
        sent_texts: list[str] = []
        running = True
        kinds: Counter[str] = Counter()

        def replies() -> Counter[str]:
            return Counter(m["content"].rsplit("You said: ", 1)[-1] for m in fake.messages)

        async def chat(number: int) -> None:
            sequence = 0
            while running:
                if fake.live and fake.live[-1].session:
                    text = f"r{number}-{sequence}"
                    sent_texts.append(text)
                    fake.push_message(channel_id=channel_of(number), author=user_of(number), content=text)
                    sequence += 1
                    with trio.move_on_after(3.0):
                        await fake.wait_for(
                            lambda t=text: any(m["content"].endswith(f": {t}") for m in fake.messages[-50:])
                        )
                else:
                    await fake.changed.wait()

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for number in range(1, args.kill_chats + 1):
                nursery.start_soon(chat, number)
            await churn(config, args.restarts, kinds)
            async with open_gateway(config, port=0, env={}):  # the last one, to answer what is left
                running = False
                with trio.move_on_after(SETTLE_TIMEOUT):
                    await fake.wait_for(lambda: all_answered(replies(), sent_texts))
            nursery.cancel_scope.cancel()
        counts = replies()
        lost = [t for t in sent_texts if counts[t] == 0]
        duplicated = {t: counts[t] for t in sent_texts if counts[t] > 1}
        return {
            "messages": len(sent_texts),
            "replies": sum(counts.values()),
            "unanswered": len(lost),
            "duplicated": len(duplicated),
            "unanswered_examples": lost[:5],
            "duplicated_examples": dict(list(duplicated.items())[:5]),
            "restarts": dict(kinds),
            "identifies": len(fake.identifies),
            "resumes": len(fake.resumes),
            "seconds": round(time.perf_counter() - started, 1),
        }


# --- main ------------------------------------------------------------------------------------------------


async def run_all(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if not args.skip_throughput:
        print(f"throughput, {args.chats} chats …", file=sys.stderr)
        results["throughput"] = await throughput(args, tmp, registry)
    if not args.skip_rss:
        print(f"RSS, 1 and {1 + args.accounts} accounts …", file=sys.stderr)
        results["rss"] = await rss(args, tmp, registry)
    if not args.skip_kills:
        print(f"{args.kills} kill -9 …", file=sys.stderr)
        results["kills"] = await kills(args, tmp, registry)
    if not args.skip_restarts:
        print(f"{args.restarts} restarts …", file=sys.stderr)
        results["restarts"] = await restarts(args, tmp)
    return results


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = []
    part = results.get("throughput")
    if part:
        cpu = part.get("cpu_us_per_turn", {})
        rows += [
            ("chats (messages in flight)", part["chats"]),
            ("messages answered / s", part["messages_per_s"]),
            ("end-to-end p50 ms", part["p50_ms"]),
            ("end-to-end p99 ms", part["p99_ms"]),
            ("gateway CPU µs / message", cpu.get("gateway")),
            (
                "CPU % gateway / bench+fake / other",
                "{gateway} / {client} / {other}".format(**part["cpu_percent"]),
            ),
            ("429s from the fake", part["rate_limited"]),
        ]
    part = results.get("rss")
    if part:
        rows += [
            (
                f"gateway RSS MB, {part['accounts_one']} / {part['accounts_many']} accounts connected",
                f"{part['rss_mb_one']} / {part['rss_mb_many']}",
            ),
            ("RSS KB per connected account", part["rss_kb_per_account"]),
        ]
    part = results.get("kills")
    if part:
        rows += [
            ("kill -9: messages / replies", f"{part['messages']} / {part['replies']}"),
            ("kill -9: duplicated replies (target 0)", part["duplicated"]),
            ("kill -9: messages never answered", part["unanswered"]),
            ("kill -9: nonce honoured by the fake", part["nonce_honoured"]),
        ]
    part = results.get("restarts")
    if part:
        rows += [
            ("restarts: messages / replies", f"{part['messages']} / {part['replies']}"),
            ("restarts: duplicated replies (target 0)", part["duplicated"]),
            ("restarts: messages never answered", part["unanswered"]),
        ]
    return "\n".join(["| figure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--max-concurrent", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--kill-chats", type=int, default=10)
    parser.add_argument("--send-delay-ms", type=float, default=20.0)
    parser.add_argument("--no-nonce", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-kills", action="store_true")
    parser.add_argument("--restarts", type=int, default=100)
    parser.add_argument("--skip-restarts", action="store_true")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary directory (gateway logs, state)."
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    bg.raise_fd_limit(args.chats * 4 + 256)
    registry: list[bg.Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-discord-") as scratch:
        tmp = tempfile.mkdtemp(prefix="bench-discord-kept-") if args.keep else scratch
        try:
            results = trio.run(run_all, args, Path(tmp), registry)
        finally:
            for server in registry:
                bg.stop_server(server)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
    results["args"] = vars(args)
    results["load_average"] = os.getloadavg()
    (RESULTS / "discord.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nload average {os.getloadavg()[0]:.2f}; full results in {RESULTS / 'discord.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

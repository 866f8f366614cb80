"""WhatsApp inbound → echo agent → delivered reply, through the real bridge and channel, run by hand.

    python bench/bench_whatsapp.py [--chats 100] [--messages 20] [--max-concurrent 100] [--events 20000]
                                   [--accounts 20]

The WhatsApp Web client is the test fake (tests/fakes/whatsapp.py) behind the production bridge: its
events cross the thread boundary exactly as neonize's do (``trio.from_thread`` from the client's thread),
and replies go back through ``to_thread``. Two figures:

- end to end: ``--chats`` DMs (per-peer sessions, dmPolicy open), each sending ``--messages`` messages one
  after another (the next once the reply has been delivered); replies/s over the run and the latency from
  the fake client emitting the message to the channel's ``send_text`` returning, p50/p99;
- the bridge alone: ``--events`` events emitted from one client thread and received in Trio, events/s;
- RSS per connected account: this process's RSS with one linked account connected, then with
  ``--accounts`` more (each its own bridge, client thread and channel), settled; the difference per
  account. Our side only: the fake client is a thread and a queue, where neonize's Go client (its
  websocket, its sqlite session store) has memory of its own that this does not see.

``agents.defaults.maxConcurrent`` is ``--max-concurrent`` (100), so 100 chats' turns run at once as in
the other channels' benches (``0``: the gateway's default, 4).

Prints a markdown table; writes bench/results/whatsapp.json (gitignored).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moltbot.channels.whatsapp import bridge  # noqa: E402
from moltbot.config.model import (  # noqa: E402
    AgentDefaults,
    AgentsConfig,
    AuthConfig,
    ChannelsConfig,
    Config,
    GatewayConfig,
    SessionConfig,
    WhatsAppAccount,
    WhatsAppConfig,
)
from moltbot.gateway.app import open_gateway  # noqa: E402
from tests.fakes.whatsapp import FakeWhatsApp, link  # noqa: E402


class TimedFake(FakeWhatsApp):
    """Records when each message was emitted and when its reply was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.emitted: dict[str, float] = {}
        self.replied: dict[str, float] = {}
        self.reply_events: dict[str, trio.Event] = {}
        self.token: trio.lowlevel.TrioToken | None = None

    def client(self, auth_dir, *, name):
        client = super().client(auth_dir, name=name)
        send = client.send_text

        def timed_send(jid: str, text: str) -> str:
            message_id = send(jid, text)
            marker = text.rpartition("You said: ")[2]
            self.replied[marker] = time.perf_counter()
            self.token.run_sync_soon(self.reply_events[marker].set)
            return message_id

        client.send_text = timed_send
        return client


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def agents_config(max_concurrent: int) -> AgentsConfig:
    return (
        AgentsConfig(defaults=AgentDefaults(max_concurrent=max_concurrent))
        if max_concurrent
        else AgentsConfig()
    )


async def end_to_end(chats: int, messages: int, max_concurrent: int) -> dict:
    fake = TimedFake()
    fake.token = trio.lowlevel.current_trio_token()
    bridge.BACKEND = fake
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        link(state / "credentials" / "whatsapp" / "default")
        config = Config(
            gateway=GatewayConfig(auth=AuthConfig(token="bench-token-0123456789")),
            state_dir=state,
            session=SessionConfig(dm_scope="per-peer"),
            channels=ChannelsConfig(whatsapp=WhatsAppConfig(dm_policy="open")),
            agents=agents_config(max_concurrent),
        )
        async with open_gateway(config, port=0, env={}) as gateway:
            status = gateway.runtime.channels.statuses["whatsapp"]["default"]
            while not status.connected:  # noqa: ASYNC110
                await trio.sleep(0.01)

            async def chat(index: int) -> None:
                sender = f"49170{index:07d}@s.whatsapp.net"
                for n in range(messages):
                    marker = f"c{index}m{n}"
                    fake.reply_events[marker] = trio.Event()
                    fake.emitted[marker] = time.perf_counter()
                    fake.push_text(marker, sender=sender)
                    await fake.reply_events[marker].wait()

            began = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for index in range(chats):
                    nursery.start_soon(chat, index)
            elapsed = time.perf_counter() - began
    latencies = [(fake.replied[m] - fake.emitted[m]) * 1000 for m in fake.emitted]
    return {
        "chats": chats,
        "max_concurrent": max_concurrent,
        "messages": chats * messages,
        "seconds": elapsed,
        "replies_per_s": chats * messages / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 99),
    }


class Burst:
    """A client whose ``connect`` emits ``count`` events as fast as the bridge takes them."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.stopped = threading.Event()

    def connect(self, emit):
        for n in range(self.count):
            emit(bridge.Disconnected(str(n)))
        self.stopped.wait(30)

    def stop(self):
        self.stopped.set()

    def send_text(self, jid, text):
        return ""

    def logout(self):
        pass


async def bridge_only(events: int) -> dict:
    received = 0
    began = time.perf_counter()
    async with bridge.open_bridge(Burst(events)) as running:
        async for _ in running.events:
            received += 1
            if received == events:
                break
    elapsed = time.perf_counter() - began
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed}


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


async def rss_per_account(accounts: int) -> dict:
    """This process's RSS with 1 and with 1 + ``accounts`` linked accounts connected (the fake client)."""
    out: dict = {}
    raw: dict[str, float] = {}
    bridge.BACKEND = FakeWhatsApp()
    for label, count in (("one", 1), ("many", 1 + accounts)):
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            ids = ["default"] + [f"a{i}" for i in range(1, count)]
            for account_id in ids:
                link(state / "credentials" / "whatsapp" / account_id)
            whatsapp = (
                WhatsAppConfig(dm_policy="open")
                if count == 1
                else WhatsAppConfig(accounts={a: WhatsAppAccount(dm_policy="open") for a in ids})
            )
            config = Config(
                gateway=GatewayConfig(auth=AuthConfig(token="bench-token-0123456789")),
                state_dir=state,
                channels=ChannelsConfig(whatsapp=whatsapp),
            )
            async with open_gateway(config, port=0, env={}) as gateway:
                statuses = gateway.runtime.channels.statuses["whatsapp"]
                while sum(1 for s in statuses.values() if s.connected) < count:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                await trio.sleep(2.0)  # let start-up garbage settle
                raw[label] = rss_mb()
                out[f"rss_mb_{label}"] = round(raw[label], 1)
                out[f"accounts_{label}"] = count
    out["rss_kb_per_account"] = round((raw["many"] - raw["one"]) * 1024 / accounts, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--max-concurrent", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        print(json.dumps(trio.run(rss_per_account, args.accounts)))
        return
    e2e = trio.run(end_to_end, args.chats, args.messages, args.max_concurrent)
    raw = trio.run(bridge_only, args.events)
    memory = None
    if args.accounts:  # in a fresh process: this one's heap is full of the end-to-end run's garbage
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", "--accounts", str(args.accounts)],
            capture_output=True,
            text=True,
            check=True,
        )
        memory = json.loads(child.stdout.strip().splitlines()[-1])
    print("| figure | value |\n| --- | --- |")
    print(
        f"| end to end, {e2e['chats']} chats × {args.messages} messages | {e2e['replies_per_s']:.0f} replies/s "
        f"(p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms) |"
    )
    print(f"| bridge alone, {raw['events']} events from one thread | {raw['events_per_s']:.0f} events/s |")
    if memory:
        print(
            f"| RSS MB, {memory['accounts_one']} / {memory['accounts_many']} accounts connected (our side) "
            f"| {memory['rss_mb_one']} / {memory['rss_mb_many']} |"
        )
        print(f"| RSS KB per connected account (our side) | {memory['rss_kb_per_account']} |")
    print(f"\nmaxConcurrent {args.max_concurrent}; load average {os.getloadavg()[0]:.2f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "whatsapp.json").write_text(
        json.dumps(
            {"end_to_end": e2e, "bridge": raw, "rss": memory, "load_average": os.getloadavg()}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

"""WhatsApp inbound → echo agent → delivered reply, through the real bridge and channel, run by hand.

    python bench/bench_whatsapp.py [--chats 100] [--messages 20] [--events 20000]

The WhatsApp Web client is the test fake (tests/fakes/whatsapp.py) behind the production bridge: its
events cross the thread boundary exactly as neonize's do (``trio.from_thread`` from the client's thread),
and replies go back through ``to_thread``. Two figures:

- end to end: ``--chats`` DMs (per-peer sessions, dmPolicy open), each sending ``--messages`` messages one
  after another (the next once the reply has been delivered); replies/s over the run and the latency from
  the fake client emitting the message to the channel's ``send_text`` returning, p50/p99;
- the bridge alone: ``--events`` events emitted from one client thread and received in Trio, events/s.

Prints a markdown table; writes bench/results/whatsapp.json (gitignored).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moltbot.channels.whatsapp import bridge  # noqa: E402
from moltbot.config.model import (  # noqa: E402
    AuthConfig,
    ChannelsConfig,
    Config,
    GatewayConfig,
    SessionConfig,
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


async def end_to_end(chats: int, messages: int) -> dict:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    e2e = trio.run(end_to_end, args.chats, args.messages)
    raw = trio.run(bridge_only, args.events)
    print("| figure | value |\n| --- | --- |")
    print(
        f"| end to end, {e2e['chats']} chats × {args.messages} messages | {e2e['replies_per_s']:.0f} replies/s "
        f"(p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms) |"
    )
    print(f"| bridge alone, {raw['events']} events from one thread | {raw['events_per_s']:.0f} events/s |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "whatsapp.json").write_text(json.dumps({"end_to_end": e2e, "bridge": raw}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Delivery benchmark, run by hand (not by pytest): what the outbox costs, and whether restarts lose or
duplicate messages.

    python bench/bench_delivery.py [--writes 2000] [--restarts 100] [--kills 20] [--chats 10]
                                   [--send-delay-ms 20] [--skip-store] [--skip-restarts] [--skip-kills]
                                   [--skip-transactions] [--chats-concurrent 100] [--per-chat 5]

1. **Store cost**: the SQLite writes one answered message makes, on a temporary state dir, through the same
   ``DeliveryStore`` (worker thread, one writer): the outbox's ``enqueue`` + ``finish`` and the inbound
   receipt's ``claim`` + ``settle``; µs per message sequentially, and messages/s with 100 concurrent writers.
2. **Restarts** (``--restarts``, in this process): a gateway on port 0 and the fake Telegram Bot API
   (``tests/fakes/telegram.py``, each ``sendMessage`` taking ``--send-delay-ms``); ``--chats`` chats send
   messages in a closed loop while the gateway is restarted, alternately in-process (``request_restart``)
   and stopped and opened again on the same state dir, at random moments.
3. **kill -9** (``--kills``): the gateway as its own process (``python -m moltbot gateway``, temporary
   HOME), the same chats and fake in this process; the gateway is killed with SIGKILL at random moments
   (with sends in flight: the fake's delay keeps one request open for ``--send-delay-ms``) and started again.

4. **Transactions** (``--chats-concurrent`` 100, ``--per-chat`` 5): an in-process gateway answers that many
   chats at once; the delivery store's calls and SQLite transactions per answered message.

For 2 and 3 every message's text is unique and answered by its own turn (``dmScope: per-channel-peer``,
``messages.queue.mode: followup``); once the chats stop, the bench waits until every message has
its reply and counts, per message, replies received: 0 is a loss, 2 or more a duplicate. Results go to
``bench/results/delivery.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
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

import bench_agents as ba  # noqa: E402
import bench_gateway as bg  # noqa: E402
from restart_churn import churn  # noqa: E402

from moltbot.config.model import (  # noqa: E402
    AgentDefaults,
    AgentsConfig,
    AuthConfig,
    ChannelsConfig,
    Config,
    GatewayConfig,
    MessagesConfig,
    QueueConfig,
    SessionConfig,
    TelegramConfig,
)
from moltbot.delivery.store import DeliveryStore  # noqa: E402
from moltbot.gateway.app import open_gateway  # noqa: E402
from tests.fakes.telegram import FakeBot, open_fake_telegram  # noqa: E402

BOT_TOKEN = "4343:bench-delivery-token"
SETTLE_TIMEOUT = 120.0
# One session per chat and one turn per message, so each message has its own reply to count (with the
# default "collect" queue one turn may answer several messages of a chat with one reply).
ONE_TURN_PER_MESSAGE = {
    "session": {"dmScope": "per-channel-peer"},
    "messages": {"queue": {"mode": "followup"}},
}


# --- 1. store cost ------------------------------------------------------------------------------------


async def store_cost(writes: int, tmp: Path) -> dict[str, Any]:
    store = await DeliveryStore.open(tmp / "store-bench")
    db = store.db

    async def one_message(index: int) -> None:
        row, _ = await store.run(
            db.enqueue,
            key=f"reply:telegram:default:{index}",
            kind="reply",
            channel="telegram",
            account_id="default",
            target=str(index),
            text=f"reply number {index} " * 8,
            reply_to=None,
            now_ms=1,
        )
        await store.run(db.finish, row.id, state="delivered", attempts=1, now_ms=2, message_id=str(index))

    async def one_receipt(index: int) -> None:
        await store.run(db.claim, "telegram", "default", f"{index}/{index}", '{"text": "hello"}', 1)
        await store.run(db.settle, "telegram", "default", f"{index}/{index}", state="done", now_ms=2)

    out: dict[str, Any] = {"writes": writes}
    try:
        for name, fn in (("outbox", one_message), ("receipt", one_receipt)):
            started = time.perf_counter()
            for index in range(writes):
                await fn(index)
            out[f"{name}_sequential_us_per_message"] = round(
                (time.perf_counter() - started) / writes * 1e6, 1
            )
            started, trips = time.perf_counter(), store.transactions
            async with trio.open_nursery() as nursery:
                limiter = trio.CapacityLimiter(100)

                async def limited(index: int, fn=fn, limiter=limiter) -> None:
                    async with limiter:
                        await fn(index)

                for index in range(writes, 2 * writes):
                    nursery.start_soon(limited, index)
            out[f"{name}_100_concurrent_per_s"] = round(writes / (time.perf_counter() - started), 1)
            out[f"{name}_100_concurrent_transactions_per_message"] = round(
                (store.transactions - trips) / writes, 2
            )
    finally:
        await store.aclose()
    return out


# --- the chats ----------------------------------------------------------------------------------------


@attrs.define(eq=False)
class SlowBot(FakeBot):
    """The fake bot with a ``sendMessage`` that takes ``delay`` seconds (a request in flight to kill)."""

    delay: float = 0.0
    sending: int = 0  # sendMessage requests being answered right now

    async def answer(self, method: str, body: dict[str, Any], disconnected: trio.Event) -> tuple[int, dict]:
        if method == "sendMessage" and self.delay:
            self.sending += 1
            try:  # Telegram has the message once the request arrived, whoever hangs up meanwhile
                with trio.CancelScope(shield=True):
                    await trio.sleep(self.delay * random.uniform(0.5, 1.5))
                    return await super().answer(method, body, disconnected)
            finally:
                self.sending -= 1
        return await super().answer(method, body, disconnected)


class Chats:
    """``count`` chats, each sending its next message once the previous one has a reply (or after a while)."""

    def __init__(self, bot: SlowBot, count: int) -> None:
        self.bot = bot
        self.count = count
        self.sent_texts: list[str] = []
        self.running = True

    def replies(self) -> Counter[str]:
        return Counter(s["text"].rsplit("You said: ", 1)[-1] for s in self.bot.sent)

    async def chat(self, chat: int) -> None:
        sequence = 0
        while self.running:
            text = f"m{chat}-{sequence}"
            self.sent_texts.append(text)
            self.bot.push_message(chat_id=chat, user_id=chat, text=text)
            with trio.move_on_after(3.0):  # a reply lost in a kill must not stop this chat
                await self.bot.wait_for(
                    lambda text=text: any(s["text"].endswith(f": {text}") for s in self.bot.sent[-50:])
                )
            sequence += 1

    async def settle(self) -> dict[str, Any]:
        """Stop sending; wait until every message has a reply (or the deadline); count."""
        self.running = False
        with trio.move_on_after(SETTLE_TIMEOUT):
            while True:
                counts = self.replies()
                if all(counts[text] for text in self.sent_texts):
                    break
                await trio.sleep(0.2)
        counts = self.replies()
        lost = [t for t in self.sent_texts if counts[t] == 0]
        duplicated = {t: counts[t] for t in self.sent_texts if counts[t] > 1}
        return {
            "messages": len(self.sent_texts),
            "replies": sum(counts.values()),
            "lost": len(lost),
            "duplicated": len(duplicated),
            "lost_examples": lost[:5],
            "duplicated_examples": dict(list(duplicated.items())[:5]),
        }


# --- 2. restarts in this process -----------------------------------------------------------------------


async def restarts(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    state = tmp / "restarts-state"
    async with open_fake_telegram() as fake:
        bot = fake.bots[BOT_TOKEN] = SlowBot(BOT_TOKEN, 4343, "bench_bot", delay=args.send_delay_ms / 1000)
        config = Config(
            gateway=GatewayConfig(auth=AuthConfig(token=ba.TOKEN)),
            state_dir=state,
            channels=ChannelsConfig(
                telegram=TelegramConfig(bot_token=BOT_TOKEN, api_root=fake.url, dm_policy="open")
            ),
            session=SessionConfig(dm_scope="per-channel-peer"),
            messages=MessagesConfig(queue=QueueConfig(mode="followup")),
        )
        chats = Chats(bot, args.chats)
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for chat in range(1, args.chats + 1):
                nursery.start_soon(chats.chat, 20_000 + chat)
            await churn(config, args.restarts, kinds)
            async with open_gateway(config, port=0, env={}):  # the last one, to answer what is left
                result = await chats.settle()
            nursery.cancel_scope.cancel()
    return {**result, "restarts": dict(kinds), "seconds": round(time.perf_counter() - started, 1)}


# --- 3. kill -9 ------------------------------------------------------------------------------------------


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


IN_DOUBT = re.compile(r"outbox: (\d+) telegram message\(s\) in doubt")


def in_doubt_rows(home: Path) -> list[str]:
    """The texts of the replies the (killed) gateway's store holds in doubt: pending with a send begun
    and its outcome never recorded. Read straight from the file, before the next start resends them."""
    path = home / ".clawdbot" / "delivery" / "delivery.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT text FROM outbox WHERE state = 'pending' AND sending_at IS NOT NULL"
        ).fetchall()
    finally:
        db.close()
    return [bytes(text).decode("utf-8", "replace").rsplit("You said: ", 1)[-1] for (text,) in rows]


def in_doubt_at_starts(tmp: Path) -> list[int]:
    """Per gateway start after a kill, the replies the outbox found in doubt (a send begun, its outcome
    never recorded): the only ones a restart may send twice (Telegram cannot be asked)."""
    counts = []
    for log in sorted(tmp.glob("gateway-*.log"), key=lambda p: int(p.stem.rpartition("-")[2])):
        found = IN_DOUBT.findall(log.read_text("utf-8", "replace"))
        counts.append(sum(int(n) for n in found))
    return counts


async def kills(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    home = tmp / "home-kills"
    async with open_fake_telegram() as fake:
        bot = fake.bots[BOT_TOKEN] = SlowBot(BOT_TOKEN, 4343, "bench_bot", delay=args.send_delay_ms / 1000)
        ba._write_config(
            home,
            {
                "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": fake.url, "dmPolicy": "open"}},
                **ONE_TURN_PER_MESSAGE,
            },
        )
        chats = Chats(bot, args.chats)
        in_flight_at_kill = []
        # Per kill, the replies left in doubt in the store, and which of them the fake had answered before
        # the kill (the send was over; only its outcome was not recorded yet).
        in_doubt: set[str] = set()
        answered_in_doubt: set[str] = set()
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            server = await spawn_gateway(home, tmp, 0, registry)
            for chat in range(1, args.chats + 1):
                nursery.start_soon(chats.chat, 30_000 + chat)
            for run in range(1, args.kills + 1):
                await trio.sleep(random.uniform(0.5, 2.0))
                in_flight_at_kill.append(bot.sending)
                answered = set(chats.replies())
                os.kill(server.pid, signal.SIGKILL)
                if server.popen is not None:
                    server.popen.wait()
                registry.remove(server)
                doubtful = in_doubt_rows(home)
                in_doubt.update(doubtful)
                answered_in_doubt.update(t for t in doubtful if t in answered)
                server = await spawn_gateway(home, tmp, run, registry)
            result = await chats.settle()
            counts = chats.replies()
            duplicated = {t for t in chats.sent_texts if counts[t] > 1}
            nursery.cancel_scope.cancel()
        ba.stop(server, registry)
    return {
        **result,
        "kills": args.kills,
        "sends_in_flight_at_each_kill": in_flight_at_kill,
        "in_doubt_at_each_start": in_doubt_at_starts(tmp),
        "in_doubt_rows": len(in_doubt),
        "in_doubt_answered_before_kill": len(answered_in_doubt),
        "duplicated_in_doubt": len(duplicated & in_doubt),
        "duplicated_not_in_doubt": len(duplicated - in_doubt),
        "duplicated_not_in_doubt_examples": sorted(duplicated - in_doubt)[:20],
        "seconds": round(time.perf_counter() - started, 1),
    }


# --- 4. store transactions per answered message ------------------------------------------------------------


def _trips(store: DeliveryStore) -> int:
    """Worker-thread trips (one transaction each); a store without group commit makes one per call."""
    return int(getattr(store, "transactions", store.writes))


async def transactions(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """``--chats-concurrent`` chats (one session each, ``maxConcurrent`` as many) each send
    ``--per-chat`` messages one after the other through an in-process gateway; the delivery store's calls
    and transactions per answered message (group commit shares transactions between concurrent chats)."""
    async with open_fake_telegram() as fake:
        bot = fake.bots[BOT_TOKEN] = SlowBot(BOT_TOKEN, 4343, "bench_bot")
        config = Config(
            gateway=GatewayConfig(auth=AuthConfig(token=ba.TOKEN)),
            state_dir=tmp / "transactions-state",
            channels=ChannelsConfig(
                telegram=TelegramConfig(bot_token=BOT_TOKEN, api_root=fake.url, dm_policy="open")
            ),
            session=SessionConfig(dm_scope="per-channel-peer"),
            messages=MessagesConfig(queue=QueueConfig(mode="followup")),
            agents=AgentsConfig(defaults=AgentDefaults(max_concurrent=args.chats_concurrent)),
        )
        async with open_gateway(config, port=0, env={}) as gateway:
            outbox = gateway.runtime.channels.delivery.outbox
            while not gateway.runtime.channels.statuses["telegram"]["default"].connected:  # noqa: ASYNC110
                await trio.sleep(0.05)
            store = outbox.store
            calls, trips, started = store.writes, _trips(store), time.perf_counter()

            async def chat(chat_id: int) -> None:
                for sequence in range(args.per_chat):
                    text = f"t{chat_id}-{sequence}"
                    bot.push_message(chat_id=chat_id, user_id=chat_id, text=text)
                    await bot.wait_for(
                        lambda text=text: any(s["text"].endswith(f": {text}") for s in bot.sent[-200:])
                    )

            async with trio.open_nursery() as nursery:
                for chat_id in range(1, args.chats_concurrent + 1):
                    nursery.start_soon(chat, 40_000 + chat_id)
            await outbox.wait_idle()
            seconds = time.perf_counter() - started
            answered = args.chats_concurrent * args.per_chat
            return {
                "messages": answered,
                "chats": args.chats_concurrent,
                "store_calls_per_message": round((store.writes - calls) / answered, 2),
                "transactions_per_message": round((_trips(store) - trips) / answered, 2),
                "messages_per_s": round(answered / seconds, 1),
            }


# --- main --------------------------------------------------------------------------------------------------


async def run_all(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if not args.skip_store:
        print("store cost …", file=sys.stderr)
        results["store"] = await store_cost(args.writes, tmp)
    if not args.skip_restarts:
        print(f"{args.restarts} restarts …", file=sys.stderr)
        results["restarts"] = await restarts(args, tmp)
    if not args.skip_kills:
        print(f"{args.kills} kill -9 …", file=sys.stderr)
        results["kills"] = await kills(args, tmp, registry)
    if not args.skip_transactions:
        print("store transactions per answered message …", file=sys.stderr)
        results["transactions"] = await transactions(args, tmp)
    return results


def table(results: dict[str, Any]) -> str:
    rows = []
    store = results.get("store")
    if store:
        rows += [
            (
                "outbox write (enqueue + delivered), sequential µs/message",
                store["outbox_sequential_us_per_message"],
            ),
            ("outbox writes, 100 concurrent, messages/s", store["outbox_100_concurrent_per_s"]),
            (
                "inbound receipt (claim + done), sequential µs/message",
                store["receipt_sequential_us_per_message"],
            ),
            ("receipts, 100 concurrent, messages/s", store["receipt_100_concurrent_per_s"]),
        ]
        for name in ("outbox", "receipt"):
            key = f"{name}_100_concurrent_transactions_per_message"
            if key in store:  # group commit: the writes of concurrent messages share transactions
                rows.append(
                    (f"{name}, 100 concurrent: SQLite transactions per message (2 writes each)", store[key])
                )
    for key, label in (("restarts", "restarts"), ("kills", "kill -9")):
        part = results.get(key)
        if part:
            rows += [
                (f"{label}: messages / replies", f"{part['messages']} / {part['replies']}"),
                (f"{label}: lost (target 0)", part["lost"]),
                (f"{label}: duplicated (target 0)", part["duplicated"]),
            ]
            if "sends_in_flight_at_each_kill" in part:
                rows.append(
                    ("kill -9: sends in flight when killed (sum)", sum(part["sends_in_flight_at_each_kill"]))
                )
            if "in_doubt_at_each_start" in part:
                in_doubt = sum(part["in_doubt_at_each_start"])
                rows += [
                    ("kill -9: replies in doubt at the next start (sum; resent: at least once)", in_doubt),
                    (
                        "kill -9: duplicates outside that window (target 0)",
                        max(0, part["duplicated"] - in_doubt),
                    ),
                ]
            if "duplicated_in_doubt" in part:
                rows += [
                    (
                        "kill -9: replies in doubt in the store after the kills / of them answered before",
                        f"{part['in_doubt_rows']} / {part['in_doubt_answered_before_kill']}",
                    ),
                    ("kill -9: duplicates that were in doubt (per message)", part["duplicated_in_doubt"]),
                    (
                        "kill -9: duplicates that were not in doubt (target 0)",
                        part["duplicated_not_in_doubt"],
                    ),
                ]
    part = results.get("transactions")
    if part:
        label = f"{part['chats']} chats answered at once"
        rows += [
            (f"{label}: delivery store calls per answered message", part["store_calls_per_message"]),
            (f"{label}: SQLite transactions per answered message", part["transactions_per_message"]),
            (f"{label}: messages/s (in-process, fake included)", part["messages_per_s"]),
        ]
    return "\n".join(["| figure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--restarts", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--chats", type=int, default=10)
    parser.add_argument("--send-delay-ms", type=float, default=20.0)
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-restarts", action="store_true")
    parser.add_argument("--skip-kills", action="store_true")
    parser.add_argument("--skip-transactions", action="store_true")
    parser.add_argument("--chats-concurrent", type=int, default=100)
    parser.add_argument("--per-chat", type=int, default=5)
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary directory (gateway logs, state)."
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    registry: list[bg.Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as scratch:
        tmp = tempfile.mkdtemp(prefix="bench-delivery-kept-") if args.keep else scratch
        try:
            results = trio.run(run_all, args, Path(tmp), registry)
        finally:
            for server in registry:
                bg.stop_server(server)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
    results["args"] = vars(args)
    results["load_average"] = os.getloadavg()
    (RESULTS / "delivery.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nload average {os.getloadavg()[0]:.2f}; full results in {RESULTS / 'delivery.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

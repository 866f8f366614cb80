"""Slack benchmark, run by hand (not by pytest): DMs over Socket Mode through the gateway to a posted reply.

    python bench/bench_slack.py [--seconds 10] [--chats 100] [--max-concurrent 100] [--accounts 10]
                                [--no-telegram]

The fake Slack (``tests/fakes/slack.py``: the Web API over HTTP and Socket Mode over a WebSocket on
loopback, the real JSON shapes) runs in this process; the gateway runs as its own process (``python -m
moltbot gateway``, temporary HOME) with ``channels.slack`` pointed at the fake (``apiRoot``), ``dmPolicy:
open``, ``session.dmScope: per-channel-peer`` and the offline echo agent. Each of ``--chats`` (100) chats
is a worker that sends a DM envelope (``events_api``/``message.im``) over the Socket Mode connection, waits
until the fake receives the gateway's ``chat.postMessage`` for that channel, and sends the next one
(closed loop: 100 messages in flight). Every envelope is acknowledged by the gateway (counted).

Figures, after a warm-up in which every chat has had one reply: messages answered per second in
``--seconds``, end-to-end latency p50/p99/max (envelope sent → ``chat.postMessage`` received), CPU per
message; then, unless ``--no-telegram``, the same measurement for Telegram (``bench_channels``) in the same
run, so both see the same machine load. Last, RSS per connected Slack account: a gateway with no channel
and one with ``--accounts`` Slack apps (each its own Socket Mode connection), RSS settled, difference /
accounts. Results go to ``bench/results/slack.json``.
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

import trio

THIS = Path(__file__).resolve()
HERE = THIS.parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_agents as ba  # noqa: E402  (gateway process handling, CPU meter)
import bench_channels as bc  # noqa: E402
import bench_gateway as bg  # noqa: E402

from tests.fakes.slack import FakeSlack, open_fake_slack  # noqa: E402
from tests.fakes.telegram import open_fake_telegram  # noqa: E402

REPLY_TIMEOUT = 60.0


class TimedSlack:
    """Drives the fake: notes when each ``chat.postMessage`` for a waiting chat arrives."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.waiting: dict[str, tuple[trio.Event, list[float]]] = {}
        self.unexpected = 0
        answer = fake.answer

        def timed(method: str, body: dict[str, Any], token: str):
            if method == "chat.postMessage":
                waiter = self.waiting.pop(str(body.get("channel")), None)
                if waiter is None:
                    self.unexpected += 1
                else:
                    waiter[1].append(time.perf_counter())
                    waiter[0].set()
            return answer(method, body, token)

        fake.answer = timed  # type: ignore[method-assign]

    @property
    def calls(self) -> list:
        return self.fake.calls

    @property
    def sent(self) -> list:
        return self.fake.posted

    async def round_trip(self, chat: int, text: str) -> float:
        channel = f"D{chat}"
        event, seen = trio.Event(), []
        self.waiting[channel] = (event, seen)
        started = time.perf_counter()
        await self.fake.push_message(channel=channel, user=f"U{chat}", text=text, channel_type="im")
        with trio.fail_after(REPLY_TIMEOUT):
            await event.wait()
        return seen[0] - started


def slack_config(args: argparse.Namespace, fake: FakeSlack, accounts: int = 0) -> dict[str, Any]:
    slack: dict[str, Any] = {"apiRoot": fake.api_root, "dmPolicy": "open"}
    if accounts:
        slack["accounts"] = {}
        for index in range(accounts):
            bot, app = fake.add_app(f"bench{index}")
            slack["accounts"][f"a{index}"] = {"botToken": bot, "appToken": app, "apiRoot": fake.api_root}
    else:
        slack.update(botToken=fake.bot_token, appToken=fake.app_token)
    config: dict[str, Any] = {"channels": {"slack": slack}, "session": {"dmScope": "per-channel-peer"}}
    if args.max_concurrent:
        config["agents"] = {"defaults": {"maxConcurrent": args.max_concurrent}}
    return config


async def slack_throughput(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    async with open_fake_slack() as fake:
        server = await ba.start_gateway("slack", tmp, registry, slack_config(args, fake))
        with trio.fail_after(ba.START_TIMEOUT):
            await fake.wait_connected()
        meter = ba.CpuMeter({"gateway": server})
        result = await bc.measure(TimedSlack(fake), args.chats, args.seconds, meter)  # type: ignore[arg-type]
        result["gateway_findings"] = ba.stop(server, registry)
        result["envelopes_acked"] = len(fake.acks)
        result["socket_connections"] = fake.opened
        return result


async def telegram_throughput(
    args: argparse.Namespace, tmp: Path, registry: list[bg.Server]
) -> dict[str, Any]:
    async with open_fake_telegram() as fake:
        bot = fake.bots[bc.BOT_TOKEN] = bc.TimedBot(bc.BOT_TOKEN, 4242, "bench_bot")
        config = {
            "channels": {"telegram": {"botToken": bc.BOT_TOKEN, "apiRoot": fake.url, "dmPolicy": "open"}},
            "session": {"dmScope": "per-channel-peer"},
        }
        if args.max_concurrent:
            config["agents"] = {"defaults": {"maxConcurrent": args.max_concurrent}}
        server = await ba.start_gateway("telegram", tmp, registry, config)
        with trio.fail_after(ba.START_TIMEOUT):
            await bot.wait_for(lambda: bot.polls_in_flight >= 1)
        meter = ba.CpuMeter({"gateway": server})
        result = await bc.measure(bot, args.chats, args.seconds, meter)
        result["gateway_findings"] = ba.stop(server, registry)
        return result


async def rss_per_account(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    async with open_fake_slack() as fake:
        bare = await ba.start_gateway("rss-none", tmp, registry, {})
        idle = await bg.settled_rss(bare)
        ba.stop(bare, registry)
        one = await ba.start_gateway("rss-slack-one", tmp, registry, slack_config(args, fake, 1))
        with trio.fail_after(ba.START_TIMEOUT * 2):
            await fake.wait_for(lambda: fake.opened >= 1)
        with_one = await bg.settled_rss(one)
        ba.stop(one, registry)
        opened = fake.opened
        server = await ba.start_gateway("rss-slack", tmp, registry, slack_config(args, fake, args.accounts))
        with trio.fail_after(ba.START_TIMEOUT * 2):
            await fake.wait_for(lambda: fake.opened >= opened + args.accounts)
        with_accounts = await bg.settled_rss(server)
        ba.stop(server, registry)
    return {
        "accounts": args.accounts,
        "rss_no_channel_mb": round(idle / 2**20, 1),
        "rss_with_accounts_mb": round(with_accounts / 2**20, 1),
        "kib_per_account": round((with_accounts - idle) / 1024 / max(1, args.accounts), 1),
        # The first account also loads the Slack modules; each further one costs this much:
        "rss_one_account_mb": round(with_one / 2**20, 1),
        "kib_per_further_account": round((with_accounts - with_one) / 1024 / max(1, args.accounts - 1), 1),
    }


async def run(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    if args.rss_only:
        return {"rss": await rss_per_account(args, tmp, registry)}
    out: dict[str, Any] = {"slack": await slack_throughput(args, tmp, registry)}
    if not args.no_telegram:
        out["telegram"] = await telegram_throughput(args, tmp, registry)
    out["rss"] = await rss_per_account(args, tmp, registry)
    return out


def table(results: dict[str, Any]) -> str:
    rows = [
        ("chats (messages in flight)", "chats"),
        ("messages answered / s", "messages_per_s"),
        ("end-to-end p50 ms", "p50_ms"),
        ("end-to-end p99 ms", "p99_ms"),
        ("end-to-end max ms", "max_ms"),
    ]
    names = [n for n in ("slack", "telegram") if n in results]
    if not names:
        rss = results["rss"]
        return (
            f"RSS: no channel {rss['rss_no_channel_mb']} MB, one Slack account {rss['rss_one_account_mb']} MB, "
            f"{rss['accounts']} accounts {rss['rss_with_accounts_mb']} MB: {rss['kib_per_further_account']} "
            f"KiB per further account ({rss['kib_per_account']} KiB per account against no channel)"
        )
    lines = ["| figure | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(str(results[n].get(key)) for n in names) + " |")
    lines.append(
        "| gateway CPU µs / message | "
        + " | ".join(str(results[n].get("cpu_us_per_turn", {}).get("gateway")) for n in names)
        + " |"
    )
    lines.append(
        "| replies to no waiting chat | "
        + " | ".join(str(results[n]["unexpected_sends"]) for n in names)
        + " |"
    )
    rss = results["rss"]
    lines.append(
        f"\nRSS: no channel {rss['rss_no_channel_mb']} MB, {rss['accounts']} Slack accounts connected "
        f"{rss['rss_with_accounts_mb']} MB: {rss['kib_per_account']} KiB per account; one account "
        f"{rss['rss_one_account_mb']} MB: {rss['kib_per_further_account']} KiB per further account; "
        f"Slack envelopes acked {results['slack']['envelopes_acked']}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--max-concurrent", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--no-telegram", action="store_true")
    parser.add_argument("--rss-only", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    bg.raise_fd_limit(args.chats * 4 + 256)
    registry: list[bg.Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as tmp:
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
    (RESULTS / "slack.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nload average {os.getloadavg()[0]:.2f}; full results in {RESULTS / 'slack.json'}")
    for name in ("slack", "telegram"):
        for finding in (result.get(name) or {}).get("gateway_findings") or []:
            print(f"{name} gateway log:", finding)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Slack delivery benchmark, run by hand (not by pytest): are messages lost or duplicated over restarts?

    python bench/bench_slack_delivery.py [--restarts 100] [--kills 20] [--chats 10] [--post-delay-ms 20]
                                         [--skip-restarts] [--skip-kills]

The Slack counterpart of ``bench_delivery.py``'s parts 2 and 3, against the fake Slack
(``tests/fakes/slack.py``) with Slack's redelivery on: an envelope not acknowledged is sent again on the next
Socket Mode connection (``retry_attempt`` + 1, up to 3), and each ``chat.postMessage`` takes
``--post-delay-ms`` (0.5–1.5×) and counts as posted once it arrived, whoever hangs up.

1. **Restarts** (``--restarts``, in this process): a gateway on port 0; ``--chats`` DM chats send messages
   in a closed loop while the gateway is restarted, alternately in-process (``request_restart``) and stopped
   and opened again on the same state dir, at random moments.
2. **kill -9** (``--kills``): the gateway as its own process (``python -m moltbot gateway``, temporary
   HOME), killed with SIGKILL at random moments and started again.

Every message's text is unique and answered by its own turn (``dmScope: per-channel-peer``,
``messages.queue.mode: followup``); once the chats stop, the bench waits until every message has its
reply and counts replies per message: 0 is a loss, 2 or more a duplicate. Results go to
``bench/results/slack_delivery.json``.
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

import trio

THIS = Path(__file__).resolve()
HERE = THIS.parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_agents as ba  # noqa: E402
import bench_delivery as bd  # noqa: E402
import bench_gateway as bg  # noqa: E402
from restart_churn import churn  # noqa: E402

from moltbot.config.model import (  # noqa: E402
    AuthConfig,
    ChannelsConfig,
    Config,
    GatewayConfig,
    MessagesConfig,
    QueueConfig,
    SessionConfig,
    SlackConfig,
)
from moltbot.gateway.app import open_gateway  # noqa: E402
from tests.fakes.slack import FakeSlack, open_fake_slack  # noqa: E402

SETTLE_TIMEOUT = 120.0


def all_answered(counts: Counter[str], texts: list[str]) -> bool:
    return all(counts[t] for t in texts)


class Chats:
    """``count`` DM chats, each sending its next message once the previous one has a reply (or after 3 s)."""

    def __init__(self, fake: FakeSlack, count: int) -> None:
        self.fake = fake
        self.count = count
        self.sent_texts: list[str] = []
        self.running = True

    def replies(self) -> Counter[str]:
        return Counter(p["text"].rsplit("You said: ", 1)[-1] for p in self.fake.posted)

    async def chat(self, chat: int) -> None:
        sequence = 0
        while self.running:
            text = f"m{chat}-{sequence}"
            self.sent_texts.append(text)
            await self.fake.push_message(channel=f"D{chat}", user=f"U{chat}", text=text)
            with trio.move_on_after(3.0):  # a reply lost in a kill must not stop this chat
                await self.fake.wait_for(lambda text=text: any(p["text"].endswith(f": {text}")
                                                               for p in self.fake.posted[-50:]))
            sequence += 1

    async def settle(self) -> dict[str, Any]:
        self.running = False
        with trio.move_on_after(SETTLE_TIMEOUT):
            # The counts once per check (in the fake's event loop, at each change), not once per text.
            await self.fake.wait_for(lambda: all_answered(self.replies(), self.sent_texts))
        counts = self.replies()
        lost = [t for t in self.sent_texts if counts[t] == 0]
        duplicated = {t: counts[t] for t in self.sent_texts if counts[t] > 1}
        return {"messages": len(self.sent_texts), "replies": sum(counts.values()), "lost": len(lost),
                "duplicated": len(duplicated), "lost_examples": lost[:5],
                "duplicated_examples": dict(list(duplicated.items())[:5]),
                "envelopes_redelivered_pending": len(self.fake.unacked)}


def redelivering(fake: FakeSlack, args: argparse.Namespace) -> FakeSlack:
    fake.redeliver_unacked = True
    fake.post_delay = args.post_delay_ms / 1000
    return fake


async def restarts(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    async with open_fake_slack() as fake:
        redelivering(fake, args)
        config = Config(gateway=GatewayConfig(auth=AuthConfig(token=ba.TOKEN)), state_dir=tmp / "restarts-state",
                        channels=ChannelsConfig(slack=SlackConfig(bot_token=fake.bot_token, app_token=fake.app_token,
                                                                  api_root=fake.api_root, dm_policy="open")),
                        session=SessionConfig(dm_scope="per-channel-peer"),
                        messages=MessagesConfig(queue=QueueConfig(mode="followup")))
        chats = Chats(fake, args.chats)
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for chat in range(1, args.chats + 1):
                nursery.start_soon(chats.chat, 20_000 + chat)
            await churn(config, args.restarts, kinds)
            async with open_gateway(config, port=0, env={}):
                result = await chats.settle()
            nursery.cancel_scope.cancel()
    return {**result, "restarts": dict(kinds), "seconds": round(time.perf_counter() - started, 1)}


async def kills(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    home = tmp / "home-kills"
    async with open_fake_slack() as fake:
        redelivering(fake, args)
        ba._write_config(home, {"channels": {"slack": {"botToken": fake.bot_token, "appToken": fake.app_token,
                                                       "apiRoot": fake.api_root, "dmPolicy": "open"}},
                                **bd.ONE_TURN_PER_MESSAGE})
        chats = Chats(fake, args.chats)
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            server = await bd.spawn_gateway(home, tmp, 0, registry)
            for chat in range(1, args.chats + 1):
                nursery.start_soon(chats.chat, 30_000 + chat)
            for run in range(1, args.kills + 1):
                await trio.sleep(random.uniform(0.5, 2.0))
                os.kill(server.pid, signal.SIGKILL)
                if server.popen is not None:
                    server.popen.wait()
                registry.remove(server)
                server = await bd.spawn_gateway(home, tmp, run, registry)
            result = await chats.settle()
            nursery.cancel_scope.cancel()
        ba.stop(server, registry)
    return {**result, "kills": args.kills, "seconds": round(time.perf_counter() - started, 1)}


async def run_all(args: argparse.Namespace, tmp: Path, registry: list[bg.Server]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if not args.skip_restarts:
        print(f"{args.restarts} restarts …", file=sys.stderr)
        results["restarts"] = await restarts(args, tmp)
    if not args.skip_kills:
        print(f"{args.kills} kill -9 …", file=sys.stderr)
        results["kills"] = await kills(args, tmp, registry)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--chats", type=int, default=10)
    parser.add_argument("--post-delay-ms", type=float, default=20.0)
    parser.add_argument("--skip-restarts", action="store_true")
    parser.add_argument("--skip-kills", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    registry: list[bg.Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-slack-delivery-") as tmp:
        try:
            results = trio.run(run_all, args, Path(tmp), registry)
        finally:
            for server in registry:
                bg.stop_server(server)
    results["args"] = vars(args)
    results["load_average"] = os.getloadavg()
    (RESULTS / "slack_delivery.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| run | messages | lost | duplicated | seconds |\n| --- | --- | --- | --- | --- |")
    for name in ("restarts", "kills"):
        if name in results:
            r = results[name]
            print(f"| {name} | {r['messages']} | {r['lost']} | {r['duplicated']} | {r['seconds']} |")
    print(f"\nload average {os.getloadavg()[0]:.2f}; full results in {RESULTS / 'slack_delivery.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The restart churn the delivery benches share: an embedded gateway restarted over and over while
chats go on."""

from __future__ import annotations

import random
from collections import Counter

import trio

from moltbot import Config, open_gateway


async def churn(config: Config, restarts: int, kinds: Counter[str]) -> None:
    """``restarts`` restarts, each after 50–400 ms of traffic: odd ones in-process (a Runtime replaced,
    as on SIGUSR1), even ones a stop and a new ``open_gateway``; ``kinds`` counts each kind. Returns with
    no gateway running: the caller opens the last one, to answer what is left."""
    done = 0
    while done < restarts:
        async with open_gateway(config, port=0, env={}) as gateway:
            while done < restarts:
                await trio.sleep(random.uniform(0.05, 0.4))
                done += 1
                if done % 2:
                    kinds["in-process"] += 1
                    finished = gateway.next_restart()
                    gateway.request_restart("bench restart")
                    await finished.wait()
                else:
                    kinds["stop and open"] += 1
                    break

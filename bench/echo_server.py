"""A minimal trio-websocket JSON echo server: the ceiling for a Python WebSocket server on this machine.

    python bench/echo_server.py [--port 0]

On each connection it sends a ``connect.challenge`` event (so the benchmark's one client can connect to it
exactly as to a gateway), then answers every JSON request ``{"id": …, "params": …}`` with
``{"type": "res", "id": <same id>, "ok": true, "payload": <params>}``. Frames without an id are ignored.
Binds 127.0.0.1 only and prints ``echo server listening on ws://127.0.0.1:PORT (pid N)`` on stderr.
Runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import uuid

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

MAX_MESSAGE_SIZE = 16 * 1024 * 1024


async def handle(request: WebSocketRequest) -> None:
    ws = await request.accept()
    challenge = {
        "type": "event",
        "event": "connect.challenge",
        "payload": {"nonce": str(uuid.uuid4()), "ts": int(time.time() * 1000)},
    }
    try:
        await ws.send_message(json.dumps(challenge, separators=(",", ":")))
        while True:
            message = await ws.get_message()
            try:
                frame = json.loads(message)
            except ValueError:
                continue
            if not isinstance(frame, dict) or "id" not in frame:
                continue
            reply = {"type": "res", "id": frame["id"], "ok": True, "payload": frame.get("params")}
            await ws.send_message(json.dumps(reply, separators=(",", ":")))
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    handle,
                    "127.0.0.1",
                    port,
                    ssl_context=None,
                    max_message_size=MAX_MESSAGE_SIZE,
                    task_status=task_status,
                )
            )
            bound = server.port
            print(
                f"echo server listening on ws://127.0.0.1:{bound} (pid {os.getpid()})",
                file=sys.stderr,
                flush=True,
            )
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    trio.run(main, parser.parse_args().port)

"""Connect to a running gateway, call ``health``, print it.

Run: python examples/client_health.py ws://127.0.0.1:18789 <token>
(the token of a local gateway: `moltbot config get gateway.auth.token`)
"""

import json
import sys

import trio

from moltbot import open_gateway_client


async def main(url: str, token: str) -> None:
    with trio.fail_after(10):
        async with open_gateway_client(url, token=token) as client:
            print(json.dumps(await client.call("health"), indent=2))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: client_health.py URL TOKEN")
    trio.run(main, sys.argv[1], sys.argv[2])

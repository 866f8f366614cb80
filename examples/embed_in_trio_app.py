"""Embed the gateway in your own Trio program, next to your own tasks, and talk to it with the client.

Run: python examples/embed_in_trio_app.py
"""

import secrets

import trio
import trio.lowlevel

from moltbot import Config, open_gateway, open_gateway_client
from moltbot.config.model import AuthConfig, GatewayConfig


async def my_other_work(gateway) -> None:
    """Something of your own that lives beside the gateway in the same nursery."""
    await trio.lowlevel.checkpoint()
    print(f"my app sees the gateway at {gateway.url}")


async def main() -> None:
    token = secrets.token_hex(16)
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=token)))
    async with trio.open_nursery() as nursery:
        async with open_gateway(config, port=0) as gateway:  # port 0: any free port
            nursery.start_soon(my_other_work, gateway)
            async with open_gateway_client(gateway.url, token=token) as client:
                health = await client.call("health")
                presence = await client.call("system-presence")
                print(f"protocol {client.protocol}; health ok={health['ok']}; {len(presence)} presence entries")
        # Leaving the block stopped the gateway gracefully (shutdown event, clients closed 1012).


if __name__ == "__main__":
    trio.run(main)

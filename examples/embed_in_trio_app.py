"""Embed the gateway in your own Trio program, next to your own tasks, and talk to it with the client.

Run: python examples/embed_in_trio_app.py
"""

import secrets

import trio
import trio.lowlevel

from moltbot import AuthConfig, Config, GatewayConfig, open_gateway, open_gateway_client


async def my_other_work(gateway) -> None:
    """Something of your own that lives beside the gateway in the same nursery."""
    await trio.lowlevel.checkpoint()
    print(f"my app sees the gateway at {gateway.url}")


async def main() -> None:
    token = secrets.token_hex(16)
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=token)))
    async with trio.open_nursery() as nursery:
        # port 0: any free port; no state_dir given: a temporary one, removed when the block ends
        async with open_gateway(config, port=0) as gateway:
            nursery.start_soon(my_other_work, gateway)
            async with open_gateway_client(gateway.url, token=token) as client:
                health = await client.call("health")
                presence = await client.call("system-presence")
                print(
                    f"protocol {client.protocol}; health ok={health['ok']}; {len(presence)} presence entries"
                )
        # Leaving the block stopped the gateway gracefully (shutdown event, clients closed 1012).


if __name__ == "__main__":
    trio.run(main)

"""Record request → response pairs of the config, Control UI, web login and hello-ok surface of a gateway.

Run by hand against ours and the original side by side (same config file text, same token), then diff:

    python bench/compare_original.py ws://127.0.0.1:18999 testtoken > /tmp/orig.json
    python bench/compare_original.py ws://127.0.0.1:18998 testtoken > /tmp/ours.json

``--only config|http|web|hello`` restricts the run. The config steps WRITE the gateway's config file and
``config.patch``/``config.apply`` restart it: point this only at a throwaway gateway. Findings of the
session-13 run: bench/results/compare-original-session13.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from moltbot.client import GatewayClosed, open_gateway_client
from moltbot.protocol import RemoteProtocolError


async def call(url: str, token: str, method: str, params: Any = None) -> dict[str, Any]:
    async with open_gateway_client(url, token=token, max_protocol=3) as client:
        try:
            with trio.fail_after(60):
                payload = await client.call(method, params)
        except RemoteProtocolError as exc:
            return {"ok": False, "error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        return {"ok": True, "payload": payload}


def shape(value: Any, depth: int = 0) -> Any:
    """Keys and types, not values (for results that differ by content)."""
    if isinstance(value, dict):
        if depth >= 2:
            return "object"
        return {key: shape(item, depth + 1) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0], depth + 1)] if value else []
    return type(value).__name__


async def wait_up(url: str, token: str, seconds: float = 30.0) -> None:
    with trio.fail_after(seconds):
        while True:
            try:
                await call(url, token, "health")
                return
            except (GatewayClosed, OSError):
                await trio.sleep(0.2)


async def config_steps(url: str, token: str, out: dict[str, Any]) -> None:
    get = await call(url, token, "config.get")
    snap = get["payload"]
    out["config.get"] = {
        "keys": sorted(snap),
        "shape": shape(snap),
        "hash_is_sha256_of_raw": hashlib.sha256((snap.get("raw") or "").encode()).hexdigest()
        == snap.get("hash"),
        "exists": snap.get("exists"),
        "valid": snap.get("valid"),
    }
    schema = (await call(url, token, "config.schema"))["payload"]
    out["config.schema"] = {
        "keys": sorted(schema),
        "schema.keys": sorted(schema.get("schema", {}))[:12],
        "schema.required": schema.get("schema", {}).get("required"),
        "uiHints.count": len(schema.get("uiHints", {})),
        "types": {k: type(v).__name__ for k, v in schema.items()},
    }
    raw = snap["raw"]
    base = snap["hash"]
    out["config.get extra param"] = await call(url, token, "config.get", {"x": 1})
    out["config.set no baseHash"] = await call(url, token, "config.set", {"raw": raw})
    out["config.set stale baseHash"] = await call(
        url, token, "config.set", {"raw": raw, "baseHash": "0" * 64}
    )
    out["config.set empty baseHash"] = await call(url, token, "config.set", {"raw": raw, "baseHash": ""})
    out["config.set invalid JSON5"] = await call(
        url, token, "config.set", {"raw": "{gateway: ", "baseHash": base}
    )
    out["config.set JSON5 array"] = await call(url, token, "config.set", {"raw": "[1, 2]", "baseHash": base})
    out["config.set wrong type"] = await call(
        url,
        token,
        "config.set",
        {"raw": '{"gateway": {"mode": "local", "port": "abc", "auth": {"mode": "token"}}}', "baseHash": base},
    )
    out["config.set unknown key"] = await call(
        url,
        token,
        "config.set",
        {"raw": '{"gateway": {"mode": "local", "auth": {"mode": "token"}}, "bogusKey": 1}', "baseHash": base},
    )
    out["config.set missing raw"] = await call(url, token, "config.set", {"baseHash": base})
    snap = (await call(url, token, "config.get"))[
        "payload"
    ]  # ours keeps unknown keys: the file may have changed
    raw, base = snap["raw"], snap["hash"]
    new_raw = raw.replace('"restart": true', '"restart": true, "native": "auto"') if raw else raw
    out["config.set ok"] = await call(url, token, "config.set", {"raw": new_raw, "baseHash": base})
    out["backups"] = sorted(p.name for p in Path(snap["path"]).parent.glob("*.bak*"))
    out["config.set ok shape"] = shape(out["config.set ok"].get("payload"))
    after = (await call(url, token, "config.get"))["payload"]
    out["config.get after set"] = {"raw": after["raw"], "hash_changed": after["hash"] != base}
    base = after["hash"]
    out["config.patch no baseHash"] = await call(
        url, token, "config.patch", {"raw": '{"ui": {"seamColor": "#112233"}}'}
    )
    out["config.patch array"] = await call(url, token, "config.patch", {"raw": "[1]", "baseHash": base})
    out["config.patch invalid"] = await call(
        url, token, "config.patch", {"raw": '{"gateway": {"port": "abc"}}', "baseHash": base}
    )
    patched = await call(
        url,
        token,
        "config.patch",
        {"raw": '{"ui": {"seamColor": "#112233"}}', "baseHash": base, "note": "compare", "restartDelayMs": 0},
    )
    out["config.patch ok"] = patched
    out["config.patch ok shape"] = shape(patched.get("payload"))
    await trio.sleep(3)
    await wait_up(url, token)
    after = (await call(url, token, "config.get"))["payload"]
    out["config.get after patch"] = {"raw": after["raw"]}
    applied = await call(
        url, token, "config.apply", {"raw": after["raw"], "baseHash": after["hash"], "restartDelayMs": 0}
    )
    out["config.apply ok"] = applied
    out["config.apply ok shape"] = shape(applied.get("payload"))
    await trio.sleep(3)
    await wait_up(url, token)
    after = (await call(url, token, "config.get"))["payload"]
    out["config.apply stale"] = await call(
        url, token, "config.apply", {"raw": after["raw"], "baseHash": "f" * 64}
    )


async def http_steps(url: str, out: dict[str, Any]) -> None:
    parts = urlsplit(url)
    base = f"http://{parts.hostname}:{parts.port}"
    keep = ("content-type", "allow", "location", "cache-control", "content-length")
    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10) as http:
        for method, path in (
            ("GET", "/"),
            ("HEAD", "/"),
            ("POST", "/"),
            ("PUT", "/chat"),
            ("DELETE", "/ui"),
            ("GET", "/ui"),
            ("GET", "/ui/"),
            ("GET", "/ui/x"),
            ("GET", "/chat"),
            ("GET", "/chat/deep/path"),
            ("GET", "/assets/nope.js"),
            ("GET", "/favicon.ico"),
            ("GET", "/x"),
            ("GET", "/x/"),
            ("GET", "/y"),
            ("GET", "/x/chat"),
            ("GET", "/x/ui"),
            ("GET", "/index.html"),
            ("GET", "/../etc/passwd"),
            ("GET", "/avatar/main?meta=1"),
            ("GET", "/x/avatar/main?meta=1"),
            ("GET", "/chat.json"),
        ):
            response = await http.request(method, path)
            body = response.text
            out[f"{method} {path}"] = {
                "status": response.status_code,
                "headers": {k: v for k, v in response.headers.items() if k in keep},
                "body": body[:120] if not body.lstrip().startswith("<") else f"<html {len(body)} bytes>",
            }


async def web_steps(url: str, token: str, out: dict[str, Any]) -> None:
    status = await call(url, token, "channels.status", {})
    payload = status.get("payload") or {}
    out["channels.status keys"] = sorted(payload)
    out["channels.status whatsapp"] = {
        "channelOrder": payload.get("channelOrder"),
        "channels.whatsapp": (payload.get("channels") or {}).get("whatsapp"),
        "channelAccounts.whatsapp": (payload.get("channelAccounts") or {}).get("whatsapp"),
        "channelDefaultAccountId": payload.get("channelDefaultAccountId"),
        "channelLabels": payload.get("channelLabels"),
        "channelMeta": payload.get("channelMeta"),
    }
    out["web.login.wait"] = await call(url, token, "web.login.wait", {"timeoutMs": 1000})
    out["web.login.start"] = await call(url, token, "web.login.start", {"timeoutMs": 5000})
    out["web.login.wait after start"] = await call(url, token, "web.login.wait", {"timeoutMs": 1000})
    out["web.login.start bad param"] = await call(url, token, "web.login.start", {"bogus": 1})


async def hello_steps(url: str, token: str, out: dict[str, Any]) -> None:
    async with open_gateway_client(url, token=token, max_protocol=3) as client:
        out["hello.canvasHostUrl"] = (
            client.hello.canvas_host_url if hasattr(client.hello, "canvas_host_url") else None
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--only", choices=["config", "http", "web", "hello"])
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if args.only in (None, "hello"):
        await hello_steps(args.url, args.token, out)
    if args.only in (None, "http"):
        await http_steps(args.url, out)
    if args.only in (None, "web"):
        await web_steps(args.url, args.token, out)
    if args.only in (None, "config"):
        await config_steps(args.url, args.token, out)
    json.dump(out, sys.stdout, indent=2, default=repr)
    print()


if __name__ == "__main__":
    trio.run(main)

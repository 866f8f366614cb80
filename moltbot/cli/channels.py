"""``moltbot channels login|logout|outbox``: link a WhatsApp account by QR from a terminal, or unlink it;
list the delivery queue.

``login`` calls ``web.login.start`` on the gateway, draws the returned QR (a PNG data URL, so this works
against any gateway, local or remote) with block characters, then waits with ``web.login.wait`` (a
spinner on a terminal while it waits, a plain line otherwise).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
import zlib
from typing import Any

import click

from ..client import GatewayClient
from ..config.paths import resolve_state_dir
from ..delivery.store import DB_NAME, DeliveryDB, StoreError
from .output import spinner
from .rpc import Session, connection_options

PNG_PREFIX = "data:image/png;base64,"


class QrImageError(ValueError):
    """The QR image could not be read back into modules."""


def _png_pixels(png: bytes) -> list[list[bool]]:
    """Rows of pixels, True = dark, of a greyscale or palette PNG without interlace (blocking, small)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise QrImageError("not a PNG image")
    pos, header, data, palette = 8, None, bytearray(), None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [sum(body[i:i + 3]) / 3 for i in range(0, len(body), 3)]
        elif kind == b"IDAT":
            data += body
    if header is None:
        raise QrImageError("PNG without a header")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if channels is None or interlace or depth not in (1, 2, 4, 8):
        raise QrImageError("unsupported PNG layout")
    bits = depth * channels
    stride, step = (width * bits + 7) // 8, max(1, bits // 8)
    raw, rows, previous = zlib.decompress(bytes(data)), [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        previous = line
        row = []
        for x in range(width):
            if depth == 8:
                value = line[x * channels]
                level = palette[value] if colour == 3 and palette else value
                top = 255
            else:
                shift = 8 - depth - (x * depth) % 8
                value = (line[x * depth // 8] >> shift) & ((1 << depth) - 1)
                level = palette[value] if colour == 3 and palette else value
                top = 255 if colour == 3 and palette else (1 << depth) - 1
            row.append(level < top / 2)
        rows.append(row)
    return rows


def qr_modules(data_url: str) -> list[list[bool]]:
    """The QR's modules (True = dark) from a ``data:image/png;base64,…`` URL at any integer scale."""
    if not data_url.startswith(PNG_PREFIX):
        raise QrImageError("not a PNG data URL")
    pixels = _png_pixels(base64.b64decode(data_url[len(PNG_PREFIX):]))
    top = next((y for y, row in enumerate(pixels) if any(row)), None)
    if top is None:
        raise QrImageError("blank image")
    left = pixels[top].index(True)
    run = 0
    while left + run < len(pixels[top]) and pixels[top][left + run]:
        run += 1
    module = run / 7  # the finder pattern's top edge is 7 modules wide
    if module < 1:
        raise QrImageError("QR modules smaller than a pixel")
    right = max(x for x, dark in enumerate(pixels[top]) if dark)
    count = round((right - left + 1) / module)
    return [[pixels[int(top + (r + 0.5) * module)][int(left + (c + 0.5) * module)] for c in range(count)]
            for r in range(count)]


def qr_text(modules: list[list[bool]], border: int = 2) -> str:
    """Two module rows per line with half blocks: dark modules drawn as the terminal's background."""
    size = len(modules) + 2 * border
    grid = [[False] * size for _ in range(border)]
    grid += [[False] * border + row + [False] * border for row in modules]
    grid += [[False] * size for _ in range(border + 1)]
    chars = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    return "\n".join("".join(chars[(grid[y][x], grid[y + 1][x])] for x in range(size))
                     for y in range(0, size, 2))


@click.group("channels")
def channels_group() -> None:
    """Link and unlink channel accounts (WhatsApp QR login); show the delivery queue."""


async def wait_for_scan(client: GatewayClient, account_id: str, wait_ms: int) -> dict[str, Any]:
    """``web.login.wait`` with what is going on shown: a spinner on a terminal, a plain line otherwise."""
    text = f"waiting for the scan (up to {wait_ms // 1000} s; Ctrl-C gives up)"
    if not sys.stderr.isatty():
        click.echo(f"{text}…", err=True)
    async with spinner(text, delay=0):
        return await client.call("web.login.wait", {"accountId": account_id, "timeoutMs": wait_ms})


@channels_group.command("login")
@click.option("--account", "account_id", default="default", show_default=True, help="WhatsApp account id.")
@click.option("--force", is_flag=True, help="Relink even if the account is already linked.")
@click.option("--wait", "wait_ms", type=click.IntRange(1000), default=120_000, show_default=True,
              help="How long to wait for the scan, in milliseconds.")
@connection_options
def login_command(account_id: str, force: bool, wait_ms: int, **options: Any) -> None:
    """Show a WhatsApp QR to scan in WhatsApp → Linked Devices, and wait until it is scanned."""
    session = Session.from_options(options)
    session.timeout_ms += 30_000 + wait_ms  # --timeout bounds connecting; the QR and the scan take longer

    async def login(client: GatewayClient) -> dict[str, Any]:
        started = await client.call("web.login.start", {"accountId": account_id, "force": force, "timeoutMs": 30_000})
        if not started.get("qrDataUrl"):
            return {"connected": None, "message": started.get("message", "")}
        try:
            click.echo(qr_text(qr_modules(started["qrDataUrl"])))
        except (QrImageError, ValueError, zlib.error) as exc:
            click.echo(f"(the QR image could not be drawn here: {exc}; open it from the dashboard)")
        click.echo(started.get("message", ""))
        return await wait_for_scan(client, account_id, wait_ms)

    result = session.run(login, waiting=None)
    if options.get("as_json"):
        session.out.json(result)
        return
    click.echo(result.get("message", ""))
    if result.get("connected") is False:
        raise SystemExit(1)


@channels_group.command("logout")
@click.option("--channel", default="whatsapp", show_default=True, help="Channel to log out.")
@click.option("--account", "account_id", default="default", show_default=True, help="Account id.")
@connection_options
def logout_command(channel: str, account_id: str, **options: Any) -> None:
    """Log a channel account out (WhatsApp: unlink the device and delete its session)."""
    session = Session.from_options(options)
    result = session.call("channels.logout", {"channel": channel, "accountId": account_id})
    if options.get("as_json"):
        session.out.json(result)
    else:
        click.echo(f"{channel}:{account_id}: " + ("logged out" if result.get("loggedOut") else "nothing to log out")
                   + (", session deleted" if result.get("cleared") else ""))


@channels_group.command("outbox")
@click.option("--state", type=click.Choice(["pending", "delivered", "dead"]), default=None,
              help="Only messages in this state (default: all).")
@click.option("--channel", default=None, help="Only this channel.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Rows to show.")
@click.option("--inbound", is_flag=True, help="Show the inbound dead letters instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_command(state: str | None, channel: str | None, limit: int, inbound: bool, as_json: bool) -> None:
    """Outbound messages in the delivery queue (newest first): pending, delivered, dead-lettered.

    Reads ``<stateDir>/delivery/delivery.sqlite`` directly, so it works while the gateway is down."""
    path = resolve_state_dir(os.environ) / "delivery" / DB_NAME
    if not path.exists():
        if as_json:
            click.echo(json.dumps({"path": str(path), "rows": []}))
        else:
            click.echo(f"No delivery store yet ({path}).")
        return
    try:
        db = DeliveryDB(path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        rows = (db.dead_receipts(limit) if inbound else
                [row.snapshot() for row in db.rows(state=state, channel=channel, limit=limit)])
        counts = {f"{c}:{a}": n for (c, a), n in sorted(db.counts().items())}
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps({"path": str(path), "counts": counts, "rows": rows}, indent=2, ensure_ascii=False))
        return
    for account, numbers in counts.items():
        click.echo(f"{account}: " + ", ".join(f"{numbers.get(k, 0)} {label}" for k, label in (
            ("pending", "pending"), ("delivered", "delivered"), ("dead", "dead"), ("inboundDead", "inbound dead"))))
    if not rows:
        click.echo("No matching messages.")
    for row in rows:
        if inbound:
            click.echo(f"{row['channel']}:{row['accountId']}  {row['messageKey']}  {row['reason']}")
            continue
        error = f"  ({row['lastError']})" if row["lastError"] else ""
        click.echo(f"#{row['id']} {row['state']:<9} {row['channel']}:{row['accountId']} → {row['to']}  "
                   f"{row['kind']}, {row['attempts']} attempt(s){error}  {row['preview']!r}")

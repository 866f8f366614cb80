"""Hostile input: deep nesting, invalid UTF-8, floods and vanishing sockets at every handshake step.

Each check keeps a bystander session open and pings it at the end: whatever one client does, the others
must not notice. What the gateway must do with each input follows the handshake and session rules (a
message that is not a request frame is answered or closed as specified, never with 1011 or a dropped
connection); invalid UTF-8 in a text frame is the WebSocket layer's 1007 (RFC 6455 §8.1).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._context import CheckContext, Peer, PeerClosed
from .._registry import check
from .._wire import OPCODE_TEXT, RawWebSocket, abort, build_frame, open_tcp

NESTING_DEPTH = 10_000
FLOOD_REQUESTS = 1_000
ALLOWED_FIRST_MESSAGE_CLOSES = (1000, 1008)  # "not JSON" or "invalid request frame"
INVALID_UTF8 = b'{"type":"req","id":"\xff\xfe","method":"health"}'
CLOSE_INVALID_PAYLOAD = 1007


def _nested() -> list[tuple[str, str]]:
    return [
        ("arrays", "[" * NESTING_DEPTH + "]" * NESTING_DEPTH),
        ("objects", '{"a":' * NESTING_DEPTH + "1" + "}" * NESTING_DEPTH),
    ]


async def _answered_or_ignored(ctx: CheckContext, peer: Peer, what: str, *, strict: bool = True) -> str:
    """After a bad message: one reply or nothing, then a working ping.

    ``strict``: the reply must be INVALID_REQUEST with id "invalid" (the message was no request frame).
    Otherwise any one reply will do (invalid UTF-8 may be decoded with replacement characters, as the
    original does, and then be a valid request).
    """
    method = ctx.ping_method()
    request_id = peer.next_id("after")
    await peer.send({"type": "req", "id": request_id, "method": method})
    answered = False
    while True:
        try:
            frame = await peer.receive(waiting_for=f"a reply after {what}")
        except PeerClosed as exc:
            ctx.fail(
                f"{what} after the handshake closed the connection ({exc.code} {exc.close_reason!r}); "
                "it must be answered INVALID_REQUEST or ignored"
            )
        if frame.get("type") != "res":
            continue
        if frame.get("id") == request_id:
            ctx.expect(frame.get("ok") is True, f"{method} failed after {what}", frame)
            return "answered" if answered else "ignored"
        ctx.expect(not answered, f"a second reply to {what}", frame)
        if strict:
            ctx.expect(
                frame.get("id") == "invalid"
                and frame.get("ok") is False
                and (frame.get("error") or {}).get("code") == "INVALID_REQUEST",
                f"unexpected reply to {what}",
                frame,
            )
        answered = True


@check("robustness.deep_nesting")
async def deep_nesting(ctx: CheckContext) -> str:
    """10,000-deep JSON: before hello-ok closed 1000/1008, after it answered or ignored; never 1011."""
    notes = []
    async with ctx.session() as bystander:
        for kind, text in _nested():
            async with ctx.open() as peer:
                await peer.send(text)
                closed = await peer.closed(waiting_for=f"the close after {kind} nested {NESTING_DEPTH} deep")
            ctx.expect(
                closed.code in ALLOWED_FIRST_MESSAGE_CLOSES and not closed.responses(),
                f"first message of {kind} nested {NESTING_DEPTH} deep: expected close 1000 or 1008 without "
                f"a reply, got {closed.code} {closed.reason!r}",
                next(iter(closed.responses()), None),
            )
            async with ctx.session() as peer:
                await peer.send(text)
                notes.append(
                    f"{kind}: {await _answered_or_ignored(ctx, peer, f'{kind} nested {NESTING_DEPTH} deep')}"
                )
        await bystander.ping()
    return "; ".join(notes)


async def _raw_session(ctx: CheckContext) -> RawWebSocket:
    raw = await RawWebSocket.connect(ctx.target.url)
    challenge = await raw.receive()
    ctx.expect(challenge is not None, "the connection closed before connect.challenge")
    connect = {"type": "req", "id": "c1", "method": "connect", "params": ctx.connect_params()}
    await raw.send_frame(OPCODE_TEXT, json.dumps(connect).encode())
    while (message := await raw.receive()) is not None:
        frame = json.loads(message)
        if frame.get("type") == "res" and frame.get("id") == "c1":
            ctx.expect(frame.get("ok") is True, "connect was refused", frame)
            return raw
    ctx.fail(f"the connection closed ({raw.close_code}) during the handshake")


@check("robustness.invalid_utf8_binary")
async def invalid_utf8_binary(ctx: CheckContext) -> str:
    """Invalid UTF-8 in a binary frame after hello-ok is ignored or answered; the connection stays open."""
    async with ctx.session() as bystander:
        async with ctx.session() as peer:
            await peer.send(INVALID_UTF8, binary=True)
            outcome = await _answered_or_ignored(ctx, peer, "invalid UTF-8 in a binary frame", strict=False)
        await bystander.ping()
    return outcome


@check("robustness.invalid_utf8_text")
async def invalid_utf8_text(ctx: CheckContext) -> str:
    """Invalid UTF-8 in a text frame fails the WebSocket with close 1007 (RFC 6455 §8.1, §7.4.1)."""
    async with ctx.session() as bystander:
        raw = await _raw_session(ctx)
        code = None
        try:
            with trio.move_on_after(ctx.options.frame_timeout):
                await raw.send_frame(OPCODE_TEXT, INVALID_UTF8)
                code, _ = await raw.wait_closed()
        finally:
            await raw.aclose()
        ctx.expect(
            code is not None,
            f"the connection stayed open {ctx.options.frame_timeout:g} s after invalid UTF-8 in a text frame",
        )
        ctx.expect(
            code == CLOSE_INVALID_PAYLOAD,
            f"expected close 1007, got {code}"
            + (" (the TCP connection ended without a close frame)" if code == 1006 else ""),
        )
        await bystander.ping()
    return "closed 1007"


@check("robustness.request_flood")
async def request_flood(ctx: CheckContext) -> str:
    """1,000 requests sent without reading are each answered exactly once (or the client is closed 1008)."""
    method = ctx.ping_method()
    async with ctx.session() as bystander:
        async with ctx.session() as peer:
            for index in range(FLOOD_REQUESTS):
                await peer.send({"type": "req", "id": f"f{index}", "method": method})
            answered: set[str] = set()
            busy = 0
            try:
                while len(answered) < FLOOD_REQUESTS:
                    frame = await peer.receive(waiting_for=f"{FLOOD_REQUESTS} responses")
                    if frame.get("type") != "res":
                        continue
                    ctx.expect(frame.get("id") not in answered, "a request was answered twice", frame)
                    if ctx.protocol4 and _busy(frame):
                        busy += 1  # 4: a full queue answers retryable UNAVAILABLE before running
                    else:
                        ctx.expect(frame.get("ok") is True, f"{method} failed during a flood", frame)
                    answered.add(frame["id"])
            except PeerClosed as exc:
                ctx.expect(
                    exc.code == 1008,
                    f"closed {exc.code} {exc.close_reason!r} during a flood "
                    "(only 1008 slow consumer is allowed)",
                )
                return f"closed 1008 after {len(answered)} responses"
        await bystander.ping()
    return f"{FLOOD_REQUESTS} requests, {len(answered)} responses" + (
        f" ({busy} busy, retryable)" if busy else ""
    )


def _busy(frame: dict[str, Any]) -> bool:
    error = frame.get("error") or {}
    return frame.get("ok") is False and error.get("code") == "UNAVAILABLE" and error.get("retryable") is True


def _steps(ctx: CheckContext) -> list[tuple[str, Callable[[], Awaitable[trio.SocketStream]]]]:
    """(name, coroutine function leaving a half-finished connection) for each handshake step."""
    url = ctx.target.url

    async def before_upgrade() -> trio.SocketStream:
        return await open_tcp(url)

    async def mid_upgrade() -> trio.SocketStream:
        stream = await open_tcp(url)
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        return stream

    async def before_challenge() -> trio.SocketStream:
        return (await RawWebSocket.connect(url)).stream

    async def after_challenge() -> trio.SocketStream:
        raw = await RawWebSocket.connect(url)
        await raw.receive()
        return raw.stream

    async def after_connect() -> trio.SocketStream:
        raw = await RawWebSocket.connect(url)
        await raw.receive()
        connect = {"type": "req", "id": "c1", "method": "connect", "params": ctx.connect_params()}
        await raw.send_frame(OPCODE_TEXT, json.dumps(connect).encode())
        return raw.stream

    async def mid_frame() -> trio.SocketStream:
        raw = await RawWebSocket.connect(url)
        await raw.receive()
        frame = build_frame(OPCODE_TEXT, b'{"type":"req","id":"c1","method":"connect","params":{}}')
        await raw.send_raw(frame[: len(frame) // 2])
        return raw.stream

    async def after_request() -> trio.SocketStream:
        raw = await _raw_session(ctx)
        request = {"type": "req", "id": "r1", "method": ctx.ping_method()}
        await raw.send_frame(OPCODE_TEXT, json.dumps(request).encode())
        return raw.stream

    return [
        (fn.__name__.replace("_", " "), fn)
        for fn in (
            before_upgrade,
            mid_upgrade,
            before_challenge,
            after_challenge,
            after_connect,
            mid_frame,
            after_request,
        )
    ]


@check("robustness.abrupt_disconnects")
async def abrupt_disconnects(ctx: CheckContext) -> str:
    """Sockets that vanish (reset or FIN) at every handshake step leave the gateway serving everyone."""
    steps = _steps(ctx)
    async with ctx.session() as bystander:
        for name, make in steps:
            for mode in ("reset", "fin"):
                with trio.move_on_after(ctx.options.frame_timeout) as step:
                    stream = await make()
                    if mode == "reset":
                        abort(stream)
                    else:
                        await stream.aclose()
                if step.cancelled_caught:
                    ctx.fail(f"could not get to the step '{name}' within {ctx.options.frame_timeout:g} s")
                try:
                    await bystander.ping()
                except PeerClosed as exc:
                    ctx.fail(f"the bystander was closed ({exc.code}) after a {mode} {name}")
        async with ctx.session() as fresh:
            await fresh.ping()
    return f"{len(steps)} steps × reset/FIN"

"""The first message, malformed every way handshake.md lists ("Before hello-ok"), and the
frame-level rules: the size cap (1009) and binary frames carrying JSON."""

from __future__ import annotations

import json
from typing import Any

from .._context import CheckContext, Closed, PeerClosed
from .._registry import check

NOT_A_REQUEST: tuple[Any, ...] = (
    {"type": "event", "event": "hello"},
    {"type": "res", "id": "x", "ok": True},
    [],
    "just a string",
    {"type": "req", "id": "", "method": "connect"},
    {"type": "req", "id": "c1", "method": "connect", "unexpected": 1},
)


async def _first_message(ctx: CheckContext, message: Any) -> Closed:
    """Send ``message`` (a JSON value, encoded) as the first message; return how the connection ended."""
    async with ctx.open() as peer:
        await peer.send(json.dumps(message))
        return await peer.closed(waiting_for="the gateway to close after a bad first message")


def _expect_only_error(ctx: CheckContext, closed: Closed, request_id: str, message_prefix: str) -> None:
    responses = closed.responses()
    ctx.expect(
        len(responses) == 1,
        f"expected exactly one error response (id {request_id!r}) before the close",
        responses[-1] if responses else None,
    )
    response = responses[0]
    error = response.get("error") or {}
    ctx.expect(
        response.get("id") == request_id
        and response.get("ok") is False
        and error.get("code") == "INVALID_REQUEST",
        "expected an INVALID_REQUEST error response",
        response,
    )
    ctx.expect(
        str(error.get("message", "")).startswith(message_prefix),
        f"expected an error message starting {message_prefix!r}",
        response,
    )


@check("framing.first_frame_not_json")
async def first_frame_not_json(ctx: CheckContext) -> None:
    """A first message that is not JSON: close 1000, no reply."""
    async with ctx.open() as peer:
        await peer.send("{not json")
        closed = await peer.closed(waiting_for="the gateway to close after a first message that is not JSON")
    ctx.expect(
        not closed.responses(),
        "no reply is allowed to a first message that is not JSON",
        next(iter(closed.responses()), None),
    )
    ctx.expect(closed.code == 1000, f"expected close 1000, got {closed.code} {closed.reason!r}")


@check("framing.first_frame_not_request")
async def first_frame_not_request(ctx: CheckContext) -> str:
    """A first message that is JSON but no valid request frame: close 1008 "invalid request frame", no reply."""
    for message in NOT_A_REQUEST:
        closed = await _first_message(ctx, message)
        ctx.expect(
            not closed.responses(),
            f"no reply is allowed to {json.dumps(message)} (it has no usable id)",
            next(iter(closed.responses()), None),
        )
        ctx.expect(
            (closed.code, closed.reason) == (1008, "invalid request frame"),
            f'{json.dumps(message)}: expected close 1008 "invalid request frame", got {closed.code} '
            f"{closed.reason!r}",
        )
    return f"{len(NOT_A_REQUEST)} kinds of non-request"


@check("framing.first_request_not_connect")
async def first_request_not_connect(ctx: CheckContext) -> None:
    """A first request other than connect: an error reply naming the rule, then close 1008."""
    closed = await _first_message(ctx, {"type": "req", "id": "h1", "method": "health"})
    _expect_only_error(ctx, closed, "h1", "invalid handshake: first request must be connect")
    ctx.expect(
        closed.code == 1008 and closed.reason.startswith("invalid handshake"),
        f"expected close 1008 'invalid handshake: …', got {closed.code} {closed.reason!r}",
    )


@check("framing.invalid_connect_params")
async def invalid_connect_params(ctx: CheckContext) -> None:
    """connect params failing the schema: "invalid connect params: …" naming the field, close 1008."""
    client = ctx.connect_params()["client"]
    cases = (
        ("/client/version", ctx.connect_params(client={**client, "version": ""})),
        ("unexpected property", ctx.connect_params(conformanceUnknownKey=True)),
        ("/minProtocol", {key: value for key, value in ctx.connect_params().items() if key != "minProtocol"}),
    )
    for needle, params in cases:
        closed = await _first_message(ctx, {"type": "req", "id": "c1", "method": "connect", "params": params})
        _expect_only_error(ctx, closed, "c1", "invalid connect params")
        message = closed.responses()[0]["error"]["message"]
        if needle == "/minProtocol":  # missing: Ajv says "at root: must have required property 'minProtocol'"
            ctx.expect(
                "minProtocol" in message,
                "the error must name the missing field minProtocol",
                closed.responses()[0],
            )
        else:
            ctx.expect(
                needle in message, f"the error must name the problem ({needle!r})", closed.responses()[0]
            )
        ctx.expect(
            closed.code == 1008 and closed.reason.startswith("invalid connect params"),
            f"expected close 1008 'invalid connect params: …', got {closed.code} {closed.reason!r}",
        )


@check("framing.invalid_role")
async def invalid_role(ctx: CheckContext) -> None:
    """A role other than operator or node: "invalid role", close 1008."""
    closed = await _first_message(
        ctx, {"type": "req", "id": "c1", "method": "connect", "params": ctx.connect_params(role="superuser")}
    )
    _expect_only_error(ctx, closed, "c1", "invalid role")
    ctx.expect(closed.code == 1008, f"expected close 1008, got {closed.code} {closed.reason!r}")


@check("framing.oversize_message")
async def oversize_message(ctx: CheckContext) -> str:
    """A message one byte over policy.maxPayload is refused with close 1009."""
    max_payload = ctx.policy.get("maxPayload")
    if not isinstance(max_payload, int) or max_payload > 64 * 1024 * 1024:
        ctx.skip(f"hello-ok.policy.maxPayload is {max_payload!r}")
    async with ctx.session() as peer:
        head = '{"type":"req","id":"big","method":"health","params":{"pad":"'
        tail = '"}}'
        message = head + "a" * (max_payload + 1 - len(head) - len(tail)) + tail
        try:
            await peer.send(message)
        except PeerClosed as exc:  # the gateway may close before our send completes
            code = exc.code
        else:
            code = (await peer.closed(waiting_for="close 1009 for an oversize message")).code
    ctx.expect(code == 1009, f"expected close 1009 for a {max_payload + 1}-byte message, got {code}")
    return f"{max_payload + 1} bytes → 1009"


@check("framing.binary_frames")
async def binary_frames(ctx: CheckContext) -> None:
    """JSON in binary frames is read like text: connect and a request both work over binary frames."""
    async with ctx.open() as peer:
        await peer.send(
            {"type": "req", "id": "c1", "method": "connect", "params": ctx.connect_params()}, binary=True
        )
        response = await peer.response("c1")
        ctx.expect(response.get("ok") is True, "connect in a binary frame was refused", response)
        method = ctx.ping_method()
        response = await peer.call(method, binary=True)
        ctx.expect(response.get("ok") is True, f"{method} in a binary frame failed", response)

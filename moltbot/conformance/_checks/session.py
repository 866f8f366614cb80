"""After hello-ok: bad messages are answered (or ignored) and never end the connection
(handshake.md, "After hello-ok")."""

from __future__ import annotations

from typing import Any

from .._context import CheckContext
from .._registry import check

UNKNOWN_METHOD = "conformance.no-such-method"


@check("session.invalid_json_ignored")
async def invalid_json_ignored(ctx: CheckContext) -> None:
    """A message that is not JSON is ignored: no reply, the connection stays open."""
    async with ctx.session() as peer:
        await peer.send("{{{ not json")
        await peer.ping()  # fails on any other reply in between, or on a close


async def _expect_invalid_frame_answers(
    ctx: CheckContext, cases: tuple[tuple[dict[str, Any], str], ...]
) -> None:
    async with ctx.session() as peer:
        for frame, answer_id in cases:
            await peer.send(frame)
            response = await peer.response(answer_id)
            error = response.get("error") or {}
            ctx.expect(
                response.get("ok") is False
                and error.get("code") == "INVALID_REQUEST"
                and str(error.get("message", "")).startswith("invalid request frame"),
                'expected INVALID_REQUEST "invalid request frame: …"',
                response,
            )
        await peer.ping()


@check("session.invalid_frame_answered")
async def invalid_frame_answered(ctx: CheckContext) -> str:
    """An invalid request frame gets INVALID_REQUEST "invalid request frame: …" with its id, or "invalid"."""
    cases = (
        ({"type": "req", "id": "x7", "method": "health", "conformanceUnknownKey": True}, "x7"),
        ({"type": "req", "method": "health"}, "invalid"),
        ({"type": "event", "event": "conformance"}, "invalid"),
    )
    await _expect_invalid_frame_answers(ctx, cases)
    return f"{len(cases)} invalid frames answered"


@check("session.empty_id_answered_as_invalid")
async def empty_id_answered_as_invalid(ctx: CheckContext) -> None:
    """A request with an empty id is answered with the id "invalid" (a res id must be non-empty)."""
    await _expect_invalid_frame_answers(ctx, (({"type": "req", "id": "", "method": "health"}, "invalid"),))


@check("session.unknown_method")
async def unknown_method(ctx: CheckContext) -> None:
    """An unknown method is answered INVALID_REQUEST "unknown method: <name>"."""
    async with ctx.session() as peer:
        await peer.call_error(UNKNOWN_METHOD, message=f"unknown method: {UNKNOWN_METHOD}")
        await peer.ping()


@check("session.second_connect")
async def second_connect(ctx: CheckContext) -> None:
    """connect after the handshake is refused ("connect is only valid as the first request"); still open."""
    async with ctx.session() as peer:
        await peer.call_error(
            "connect", ctx.connect_params(), message="connect is only valid as the first request"
        )
        await peer.ping()


@check("session.response_per_request")
async def response_per_request(ctx: CheckContext) -> str:
    """Concurrent requests are each answered exactly once, with their own id."""
    count = 50
    method = ctx.ping_method()
    async with ctx.session() as peer:
        for index in range(count):
            await peer.send({"type": "req", "id": f"p{index}", "method": method})
        seen: dict[str, int] = {}
        while len(seen) < count:
            frame = await peer.receive(waiting_for=f"{count} responses")
            if frame.get("type") != "res":
                continue
            ctx.expect(frame.get("id") not in seen, "a request was answered twice", frame)
            ctx.expect(
                str(frame.get("id")).startswith("p") and frame.get("ok") is True, "unexpected response", frame
            )
            seen[frame["id"]] = 1
    return f"{count} requests, {count} responses"

"""The handshake: the challenge, hello-ok per protocol version, negotiation, mismatch, the timeout."""

from __future__ import annotations

from typing import Any

import trio

from .._context import CheckContext
from .._registry import check

BASELINE_PROTOCOL = 3  # the January original's version: every gateway of this family before 4 accepts it
PROTOCOL_4 = 4
MISMATCH_OFFERS = ((1000, 1001), (1, 2))


@check("handshake.challenge")
async def challenge(ctx: CheckContext) -> None:
    """connect.challenge comes first, unasked, with a nonce and ts, no seq; one nonce per connection."""
    nonces = []
    for _ in range(2):
        async with ctx.open() as peer:
            frame = peer.challenge
            problem = ctx.spec.problem(frame.get("payload"), "ConnectChallenge")
            ctx.expect(
                problem is None, f"challenge payload does not match ConnectChallenge: {problem}", frame
            )
            ctx.expect(
                "seq" not in frame and "stateVersion" not in frame,
                "connect.challenge must carry no seq or stateVersion",
                frame,
            )
            nonces.append(frame["payload"]["nonce"])
    ctx.expect(nonces[0] != nonces[1], f"two connections got the same nonce {nonces[0]!r}")


@check("handshake.hello_ok", per_version=True, version_gate=False)
async def hello_ok(ctx: CheckContext) -> str | None:
    """Offering exactly this version is answered hello-ok with that protocol and a valid payload."""
    async with ctx.open() as peer:
        response = await peer.call("connect", ctx.connect_params(), request_id="hello")
    error = response.get("error") or {}
    if response.get("ok") is not True:
        if error.get("message") == "protocol mismatch" and ctx.protocol != BASELINE_PROTOCOL:
            ctx.skip(f"the target does not speak protocol {ctx.protocol}")
        if error.get("message") == "protocol mismatch" and PROTOCOL_4 in ctx.versions:
            # Today's OpenClaw serves 4, and 3 only to probes and node hosts.
            ctx.skip(f"the target speaks 4 and refuses protocol {ctx.protocol} from a cli client")
        ctx.fail(f"connect offering protocol {ctx.protocol} was refused", response)
    payload: Any = response.get("payload")
    problem = ctx.spec.problem(payload, "HelloOk")
    ctx.expect(problem is None, f"hello-ok does not match HelloOk: {problem}", response)
    ctx.expect(payload["protocol"] == ctx.protocol, f"hello-ok.protocol is not {ctx.protocol}", response)
    ctx.expect(payload["features"]["methods"], "hello-ok advertises no methods", response)
    return f"server {payload['server'].get('version')}, {len(payload['features']['methods'])} methods"


@check("handshake.negotiate_highest")
async def negotiate_highest(ctx: CheckContext) -> str:
    """A wide offer is answered with the highest version both sides speak, inside the offered range."""
    highest = max(ctx.versions)
    answers = []
    for offer in ((min(ctx.versions), highest), (1, 1000)):
        async with ctx.open() as peer:
            response = await peer.call("connect", ctx.connect_params(protocol=offer), request_id="wide")
        ctx.expect(
            response.get("ok") is True, f"connect offering {offer[0]}..{offer[1]} was refused", response
        )
        protocol = response["payload"].get("protocol")
        ctx.expect(
            isinstance(protocol, int) and offer[0] <= protocol <= offer[1],
            f"hello-ok.protocol {protocol!r} is outside the offered range {offer[0]}..{offer[1]}",
            response,
        )
        ctx.expect(
            protocol >= highest,
            f"offered {offer[0]}..{offer[1]}, answered {protocol}: the target speaks {highest}",
            response,
        )
        answers.append(f"{offer[0]}..{offer[1]} → {protocol}")
    return "; ".join(answers)


@check("handshake.protocol_mismatch")
async def protocol_mismatch(ctx: CheckContext) -> None:
    """Ranges that do not overlap: INVALID_REQUEST "protocol mismatch" (expectedProtocol), close 1002."""
    for low, high in MISMATCH_OFFERS:
        async with ctx.open() as peer:
            await peer.send(
                {
                    "type": "req",
                    "id": "mm",
                    "method": "connect",
                    "params": ctx.connect_params(protocol=(low, high)),
                }
            )
            closed = await peer.closed(waiting_for="close 1002 after a protocol mismatch")
        responses = closed.responses()
        ctx.expect(
            len(responses) == 1,
            f"expected one error response to a {low}..{high} offer",
            responses[-1] if responses else None,
        )
        response = responses[0]
        error = response.get("error") or {}
        ctx.expect(
            response.get("ok") is False
            and error.get("code") == "INVALID_REQUEST"
            and error.get("message") == "protocol mismatch",
            'expected INVALID_REQUEST "protocol mismatch"',
            response,
        )
        details: Any = error.get("details")
        ctx.expect(
            isinstance(details, dict) and isinstance(details.get("expectedProtocol"), int),
            "error.details.expectedProtocol must be the gateway's protocol",
            response,
        )
        if ctx.protocol4:  # 4 also names the code and the client's range
            ctx.expect(
                details.get("code") == "PROTOCOL_MISMATCH"
                and (details.get("clientMinProtocol"), details.get("clientMaxProtocol")) == (low, high),
                "protocol 4: details must carry code PROTOCOL_MISMATCH and the client's min/max",
                response,
            )
        ctx.expect(closed.code == 1002, f"expected close 1002, got {closed.code} {closed.reason!r}")


@check("handshake.timeout")
async def handshake_timeout(ctx: CheckContext) -> str:
    """A client that never sends connect is closed 1000 after the handshake timeout, with no reply.

    The timeout is the target's as the user gives it (``Target.handshake_timeout_ms``: 15 s, ours and
    OpenClaw's default); the check runs only when that fits in ``max_wait``."""
    timeout = ctx.target.handshake_timeout_ms / 1000
    if timeout > ctx.options.max_wait:
        ctx.skip(
            f"the handshake timeout ({timeout:g} s) is longer than max wait ({ctx.options.max_wait:g} s; "
            f"--max-wait {timeout + 5:g} checks it)"
        )
    async with ctx.open() as peer:
        started = trio.current_time()
        closed = await peer.closed(
            timeout + 3,
            waiting_for=f"the {timeout:g} s handshake timeout; is the "
            "target's longer (--handshake-timeout-ms)?",
        )
        elapsed = trio.current_time() - started
    ctx.expect(
        not closed.frames,
        "nothing may be sent after the challenge before a timeout close",
        closed.frames[0] if closed.frames else None,
    )
    ctx.expect(closed.code == 1000, f"expected close 1000, got {closed.code} {closed.reason!r}")
    ctx.expect(
        elapsed >= timeout * 0.5, f"closed after {elapsed:.2f} s, well before the {timeout:g} s timeout"
    )
    return f"closed after {elapsed:.2f} s"

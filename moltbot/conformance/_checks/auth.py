"""Auth failures: wrong or missing secrets are refused "unauthorized: …" and closed 1008; the opt-in
rate limit refuses an address after repeated failures (handshake.md rules 7 and 8)."""

from __future__ import annotations

from typing import Any

from .._context import CheckContext, Closed
from .._registry import check

WRONG_SECRET = "moltbot-conformance-wrong-secret"
RATE_LIMIT_ATTEMPTS = 30
ORDER_LAST = 100


async def _connect_with(ctx: CheckContext, auth: Any) -> Closed:
    async with ctx.open() as peer:
        await peer.send(
            {"type": "req", "id": "auth", "method": "connect", "params": ctx.connect_params(auth=auth)}
        )
        return await peer.closed(waiting_for="close 1008 after an auth failure")


def _expect_unauthorized(ctx: CheckContext, closed: Closed) -> dict[str, Any]:
    responses = closed.responses()
    ctx.expect(
        len(responses) == 1,
        "expected one error response before the close",
        responses[-1] if responses else None,
    )
    response = responses[0]
    error = response.get("error") or {}
    ctx.expect(
        response.get("ok") is False
        and error.get("code") == "INVALID_REQUEST"
        and str(error.get("message", "")).startswith("unauthorized"),
        'expected INVALID_REQUEST "unauthorized: …"',
        response,
    )
    ctx.expect(
        closed.code == 1008 and closed.reason.startswith("unauthorized"),
        f"expected close 1008 'unauthorized: …', got {closed.code} {closed.reason!r}",
    )
    return response


def _secret_kind(ctx: CheckContext) -> str:
    if ctx.target.token:
        return "token"
    if ctx.target.password:
        return "password"
    ctx.skip("the target was given no token or password")


@check("auth.wrong_secret")
async def wrong_secret(ctx: CheckContext) -> str:
    """A wrong token/password is refused "unauthorized: …", close 1008; the secret is not echoed."""
    kind = _secret_kind(ctx)
    closed = await _connect_with(ctx, {kind: WRONG_SECRET})
    response = _expect_unauthorized(ctx, closed)
    ctx.expect(
        WRONG_SECRET not in str(response) and WRONG_SECRET not in closed.reason,
        "the refused secret is echoed back",
        response,
    )
    return f"wrong {kind} refused"


@check("auth.missing_secret")
async def missing_secret(ctx: CheckContext) -> str:
    """A connect without credentials is refused, close 1008, even on loopback ("unauthorized: …", or
    NOT_PAIRED "device identity required" from a gateway that also accepts device identities)."""
    _secret_kind(ctx)
    closed = await _connect_with(ctx, None)
    responses = closed.responses()
    if responses and (responses[0].get("error") or {}).get("code") == "NOT_PAIRED":
        ctx.expect(closed.code == 1008, f"expected close 1008, got {closed.code} {closed.reason!r}")
        return "refused: NOT_PAIRED " + str(responses[0]["error"].get("message"))
    _expect_unauthorized(ctx, closed)
    return "refused: unauthorized"


@check("auth.rate_limit", requires=("capability:rate-limit",), order=ORDER_LAST)
async def rate_limit(ctx: CheckContext) -> str:
    """Repeated failures from one address are refused with retryable/retryAfterMs, even with the right secret."""
    kind = _secret_kind(ctx)
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):  # noqa: B007 (reported below)
        response = _expect_unauthorized(ctx, await _connect_with(ctx, {kind: WRONG_SECRET}))
        error = response["error"]
        if error.get("retryable") is True:
            ctx.expect(
                isinstance(error.get("retryAfterMs"), int) and error["retryAfterMs"] > 0,
                "a rate-limited refusal must carry retryAfterMs > 0",
                response,
            )
            break
    else:
        ctx.fail(f"{RATE_LIMIT_ATTEMPTS} failed connects in a row were never rate-limited")
    locked = _expect_unauthorized(ctx, await _connect_with(ctx, ctx.target.auth()))
    ctx.expect(
        locked["error"].get("retryable") is True,
        "the right secret must be refused during the lockout",
        locked,
    )
    return f"locked out after {attempt} failures"

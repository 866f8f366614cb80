"""Idempotent retries and the restart: shutdown event, close 1012, and a working reconnect."""

from __future__ import annotations

import inspect
import uuid

import trio

from .._context import CheckContext
from .._registry import check

ORDER_RESTART = 90
RECONNECT_SECONDS = 10.0
# Params (without the key) whose effect is harmless, for idempotent methods the harness may call.
IDEMPOTENT_SAMPLES: dict[str, dict] = {}


@check("lifecycle.idempotency_dedupe")
async def idempotency_dedupe(ctx: CheckContext) -> str:
    """A request repeated with the same idempotencyKey is answered with the same result."""
    advertised = [name for name in ctx.spec.idempotent_methods() if name in ctx.methods]
    if not advertised:
        ctx.skip("no advertised idempotent method")
    callable_ = [name for name in advertised if name in IDEMPOTENT_SAMPLES]
    if not callable_:
        ctx.skip(f"no side-effect-free sample params for {', '.join(advertised)}")
    method = callable_[0]
    params = {**IDEMPOTENT_SAMPLES[method], "idempotencyKey": f"moltbot-conformance-{uuid.uuid4()}"}
    async with ctx.session() as peer:
        first = await peer.call_ok(method, params)
        second = await peer.call_ok(method, params)
    ctx.expect(first == second, f"{method} retried with the same idempotencyKey answered differently",
               {"first": first, "second": second})
    return f"{method} deduplicated"


@check("lifecycle.restart_closes_1012", requires=("restart",), order=ORDER_RESTART)
async def restart_closes_1012(ctx: CheckContext) -> str:
    """On restart every client gets a shutdown event, then close 1012; reconnecting then works."""
    async with ctx.session() as first, ctx.session() as second:
        result = ctx.target.restart()
        if inspect.isawaitable(result):
            await result
        outcomes = []
        for peer in (first, second):
            closed = await peer.closed(ctx.options.frame_timeout * 2, waiting_for="shutdown and close 1012")
            shutdown = [frame for frame in peer.events + closed.frames if frame.get("event") == "shutdown"]
            ctx.expect(shutdown, "no shutdown event before the close", closed.frames[-1] if closed.frames else None)
            problem = ctx.spec.event_problem("shutdown", shutdown[0].get("payload"))
            ctx.expect(problem is None, f"shutdown payload does not match events.json: {problem}", shutdown[0])
            ctx.expect(closed.code == 1012, f"expected close 1012, got {closed.code} {closed.reason!r}")
            outcomes.append(shutdown[0]["payload"])
    started = trio.current_time()
    while True:  # the new instance may take a moment to accept connections
        try:
            async with ctx.session() as peer:
                await peer.ping()
            break
        except Exception:
            if trio.current_time() - started > RECONNECT_SECONDS:
                raise
            await trio.sleep(0.1)
    return (f"shutdown {outcomes[0].get('reason')!r}, restartExpectedMs {outcomes[0].get('restartExpectedMs')}; "
            f"reconnected after {trio.current_time() - started:.2f} s")

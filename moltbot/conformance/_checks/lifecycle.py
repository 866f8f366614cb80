"""Idempotent retries and the restart: shutdown event, close 1012, and a working reconnect."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import trio

from .._context import CheckContext, Peer
from .._registry import check

ORDER_RESTART = 90
RECONNECT_SECONDS = 10.0
# Params (without the key) for idempotent methods, and the capability that allows calling each: a
# chat.send starts an agent run, which may call a paid model on a real gateway.
IDEMPOTENT_SAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat.send": (
        "agent-runs",
        {"sessionKey": "agent:main:moltbot-conformance", "message": "moltbot conformance probe"},
    ),
}
DEDUPED_STATUSES = ("in_flight", "ok", "error")


async def _answer(peer: Peer, request_id: str) -> dict[str, Any]:
    """The first ``res`` for ``request_id``; answers to earlier requests (a second ``agent`` res) are skipped."""
    while True:
        frame = await peer.receive(waiting_for=f"the response to {request_id!r}")
        if frame.get("type") == "res" and frame.get("id") == request_id:
            return frame


@check("lifecycle.idempotency_dedupe")
async def idempotency_dedupe(ctx: CheckContext) -> str:
    """A request retried with the same idempotencyKey is not run again: same runId, status not "started"."""
    advertised = [name for name in ctx.spec.idempotent_methods() if name in ctx.methods]
    if not advertised:
        ctx.skip("no advertised idempotent method")
    samples = [name for name in advertised if name in IDEMPOTENT_SAMPLES]
    if not samples:
        ctx.skip(f"no sample params for {', '.join(advertised)}")
    method = samples[0]
    capability, sample = IDEMPOTENT_SAMPLES[method]
    if capability not in ctx.target.capabilities:
        ctx.skip(f"{method} starts an agent run: enable capability {capability!r} to check its dedupe")
    params = {**sample, "idempotencyKey": f"moltbot-conformance-{uuid.uuid4()}"}
    async with ctx.session() as peer:
        answers = []
        for attempt in ("first", "retry"):
            request_id = f"{attempt}-{uuid.uuid4().hex[:8]}"
            await peer.send({"type": "req", "id": request_id, "method": method, "params": params})
            answers.append(await _answer(peer, request_id))
    first, retry = answers
    ctx.expect(first.get("ok") is True, f"{method} failed", first)
    ctx.expect(retry.get("ok") is True, f"{method} retried with the same idempotencyKey failed", retry)
    run_id = first["payload"].get("runId")
    ctx.expect(retry["payload"].get("runId") == run_id, "the retry got another runId", retry)
    ctx.expect(
        retry["payload"].get("status") in DEDUPED_STATUSES,
        f"the retry was not deduplicated (status must be one of {', '.join(DEDUPED_STATUSES)})",
        retry,
    )
    return f"{method} retry → {retry['payload'].get('status')} (runId {run_id})"


@check("lifecycle.restart_closes_1012", requires=("restart",), order=ORDER_RESTART)
async def restart_closes_1012(ctx: CheckContext) -> str:
    """On restart every client gets a shutdown event, then close 1012; reconnecting then works."""
    async with ctx.session() as first, ctx.session() as second:
        assert ctx.target.restart is not None  # requires=("restart",)
        result = ctx.target.restart()
        if inspect.isawaitable(result):
            await result
        outcomes = []
        for peer in (first, second):
            closed = await peer.closed(ctx.options.frame_timeout * 2, waiting_for="shutdown and close 1012")
            shutdown = [frame for frame in peer.events + closed.frames if frame.get("event") == "shutdown"]
            ctx.expect(
                shutdown, "no shutdown event before the close", closed.frames[-1] if closed.frames else None
            )
            problem = ctx.spec.event_problem("shutdown", shutdown[0].get("payload"))
            ctx.expect(
                problem is None, f"shutdown payload does not match {ctx.spec.label}: {problem}", shutdown[0]
            )
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
    return (
        f"shutdown {outcomes[0].get('reason')!r}, restartExpectedMs {outcomes[0].get('restartExpectedMs')}; "
        f"reconnected after {trio.current_time() - started:.2f} s"
    )

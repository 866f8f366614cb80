"""Broadcast events: payloads match events.json, one increasing ``seq``, monotonic state versions, tick.

The checks make the target broadcast by ordinary means: a ``health`` probe (refreshes and broadcasts
``health``) and a tracked client that connects and leaves (``presence``). A watcher session collects
what arrives; nothing else runs at the same time, so every event seen was caused by the check.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import trio

from .._context import CheckContext, Peer
from .._registry import check

QUIET_SECONDS = 0.5


async def _collect(peer: Peer, seconds: float) -> list[dict[str, Any]]:
    """Every event ``peer`` receives within ``seconds`` (responses are dropped)."""
    frames: list[dict[str, Any]] = [frame for frame in peer.events if frame.get("type") == "event"]
    peer.events.clear()
    with trio.move_on_after(seconds):
        while True:
            frame = await peer.receive(seconds + 1, waiting_for="events")
            if frame.get("type") == "event":
                frames.append(frame)
    return frames


async def _probe_health(ctx: CheckContext, peer: Peer) -> bool:
    if "health" not in ctx.methods:
        return False
    await peer.call_ok("health", {"probe": True})
    return True


async def _churn_presence(ctx: CheckContext) -> str:
    """Connect a tracked (non-CLI) client and leave again; return its instanceId."""
    instance = f"moltbot-conformance-{uuid.uuid4()}"
    client = {**ctx.connect_params()["client"], "mode": "ui", "instanceId": instance}
    async with ctx.session(client=client):
        pass
    return instance


def _version(frame: dict[str, Any], key: str) -> Any:
    return (frame.get("stateVersion") or {}).get(key)


@check("events.payloads_match_spec")
async def payloads_match_spec(ctx: CheckContext) -> str:
    """Broadcast events are advertised in features.events and their payloads match events.json."""
    async with ctx.session() as watcher:
        await _probe_health(ctx, watcher)
        await _churn_presence(ctx)
        events = await _collect(watcher, QUIET_SECONDS * 2)
    if not events:
        ctx.skip("the target broadcast nothing after a health probe and a presence change")
    for frame in events:
        name = frame.get("event")
        ctx.expect(name in ctx.events, f"event {name!r} is not in hello-ok features.events", frame)
        problem = ctx.spec.event_problem(str(name), frame.get("payload"))
        ctx.expect(problem is None, f"{name} payload does not match {ctx.spec.label}: {problem}", frame)
    counts = Counter(frame["event"] for frame in events)
    return ", ".join(f"{name} ×{count}" for name, count in sorted(counts.items()))


@check("events.seq_monotonic")
async def seq_monotonic(ctx: CheckContext) -> str:
    """Broadcast events carry one seq that strictly increases (gaps allowed)."""
    async with ctx.session() as watcher:
        for _ in range(2):
            await _probe_health(ctx, watcher)
            await _churn_presence(ctx)
        events = await _collect(watcher, QUIET_SECONDS * 2)
    numbered = [frame for frame in events if "seq" in frame]
    if len(numbered) < 2:
        ctx.skip(f"only {len(numbered)} broadcast event(s) with a seq observed")
    for before, after in zip(numbered, numbered[1:], strict=False):
        ctx.expect(after["seq"] > before["seq"], f"seq went from {before['seq']} to {after['seq']}", after)
    return f"{len(numbered)} events, seq {numbered[0]['seq']}..{numbered[-1]['seq']}"


@check("events.presence_state_version")
async def presence_state_version(ctx: CheckContext) -> str:
    """presence events carry stateVersion; its presence counter never goes back and passes the snapshot's."""
    async with ctx.session() as watcher:
        baseline = _version(watcher.hello.get("snapshot") or {}, "presence")
        instance = await _churn_presence(ctx)
        events = await _collect(watcher, QUIET_SECONDS * 2)
    presence = [frame for frame in events if frame.get("event") == "presence"]
    if not presence:
        ctx.fail("no presence event after a tracked client connected and left")
    versions: list[Any] = []
    for frame in presence:
        version = _version(frame, "presence")
        ctx.expect(isinstance(version, int), "a presence event must carry stateVersion.presence", frame)
        ctx.expect(
            not versions or version >= versions[-1],
            f"stateVersion.presence went back from {versions[-1] if versions else None} to {version}",
            frame,
        )
        versions.append(version)
    last = presence[-1]
    ctx.expect(
        isinstance(baseline, int) and versions[-1] > baseline,
        f"stateVersion.presence {versions[-1]} is not above the hello-ok snapshot's {baseline}",
        last,
    )
    entries = (last.get("payload") or {}).get("presence") or []
    # The client that left is gone, or (the original keeps entries for their TTL) marked as disconnected.
    ctx.expect(
        all(entry.get("reason") == "disconnect" for entry in entries if entry.get("instanceId") == instance),
        "the client that left is still listed as connected in the last presence event",
        last,
    )
    return f"presence versions {baseline} → {', '.join(map(str, versions))}"


@check("events.health_state_version", requires=("method:health",))
async def health_state_version(ctx: CheckContext) -> str:
    """health events carry stateVersion; its health counter never goes back and passes the snapshot's."""
    async with ctx.session() as watcher:
        baseline = _version(watcher.hello.get("snapshot") or {}, "health")
        for _ in range(2):
            await _probe_health(ctx, watcher)
        events = await _collect(watcher, QUIET_SECONDS * 2)
    health = [frame for frame in events if frame.get("event") == "health"]
    if not health:
        ctx.skip("the target broadcast no health event after two health probes")
    versions: list[Any] = []
    for frame in health:
        version = _version(frame, "health")
        ctx.expect(isinstance(version, int), "a health event must carry stateVersion.health", frame)
        ctx.expect(
            not versions or version >= versions[-1],
            f"stateVersion.health went back from {versions[-1] if versions else None} to {version}",
            frame,
        )
        versions.append(version)
    ctx.expect(
        isinstance(baseline, int) and versions[-1] >= baseline,
        f"stateVersion.health {versions[-1]} is below the hello-ok snapshot's {baseline}",
        health[-1],
    )
    return f"health versions {baseline} → {', '.join(map(str, versions))}"


@check("events.tick_cadence")
async def tick_cadence(ctx: CheckContext) -> str:
    """tick arrives every policy.tickIntervalMs (within 0.5×–2×), with a seq and a valid payload."""
    interval_ms = ctx.policy.get("tickIntervalMs")
    if not isinstance(interval_ms, int) or interval_ms <= 0:
        ctx.fail(f"hello-ok.policy.tickIntervalMs is {interval_ms!r}")
    interval = interval_ms / 1000
    if interval * 2 > ctx.options.max_wait:
        ctx.skip(
            f"tickIntervalMs {interval_ms} needs over {interval * 2:g} s (max wait {ctx.options.max_wait:g} s)"
        )
    async with ctx.session() as peer:
        first = await peer.event("tick", within=interval * 2.5)
        first_at = trio.current_time()
        second = await peer.event("tick", within=interval * 2.5)
        gap = trio.current_time() - first_at
    for frame in (first, second):
        problem = ctx.spec.event_problem("tick", frame.get("payload"))
        ctx.expect(problem is None, f"tick payload does not match {ctx.spec.label}: {problem}", frame)
        ctx.expect(isinstance(frame.get("seq"), int), "tick must carry a seq", frame)
    ctx.expect(second["seq"] > first["seq"], "tick seq did not increase", second)
    ctx.expect(
        interval * 0.5 <= gap <= interval * 2,
        f"ticks {gap * 1000:.0f} ms apart, policy says {interval_ms} ms",
        second,
    )
    return f"ticks {gap * 1000:.0f} ms apart (policy {interval_ms} ms)"

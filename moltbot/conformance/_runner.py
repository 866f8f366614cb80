"""``run_conformance``: probe the target, then run every selected check in order, one at a time.

The probe connects once per protocol version of the run, offering exactly that version, to learn which
versions the target speaks and what its hello-ok advertises (methods, events, policy). Each check then
runs alone, under its own deadline, with a fresh ``CheckContext``; checks share nothing but the probe's
findings, so one failure cannot cascade into the next check. Destructive checks (restart, the auth
lockout) run last.
"""

from __future__ import annotations

from collections.abc import Iterable

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from ._context import CheckContext, CheckFailed, CheckSkipped, Options
from ._registry import Check, all_checks, select
from ._report import FAIL, PASS, SKIP, CheckResult, Report
from ._spec import Spec, load_spec
from ._target import Target

__all__ = ["run_conformance"]


async def _probe(target: Target, spec: Spec, options: Options, version: int) -> dict | str:
    """hello-ok of a connect offering exactly ``version``, or why there was none."""
    ctx = CheckContext(target, spec, options, protocol=version)
    try:
        with trio.move_on_after(options.frame_timeout * 2):
            async with ctx.open() as peer:
                await peer.send({"type": "req", "id": "probe", "method": "connect",
                                 "params": ctx.connect_params()})
                while True:
                    frame = await peer.receive(waiting_for="the connect response")
                    if frame.get("type") == "res" and frame.get("id") == "probe":
                        break
            if frame.get("ok") is True and isinstance(frame.get("payload"), dict):
                return frame["payload"]
            return str((frame.get("error") or {}).get("message") or "connect refused")
        return "no hello-ok in time"
    except CheckFailed as exc:
        return exc.reason


def _unwrap(exc: BaseException) -> BaseException:
    """The most telling exception inside a group: a failure, then a skip, then anything else."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves: list[BaseException] = []

    def walk(group: BaseExceptionGroup) -> None:
        for inner in group.exceptions:
            walk(inner) if isinstance(inner, BaseExceptionGroup) else leaves.append(inner)

    walk(exc)
    for kind in (CheckFailed, CheckSkipped, Exception):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return exc


def _unmet(check: Check, ctx: CheckContext) -> str | None:
    """Why ``check`` does not apply to this target, or ``None``."""
    if check.since > ctx.protocol:
        return f"needs protocol {check.since} or later (this run: protocol {ctx.protocol})"
    for requirement in check.requires:
        kind, _, what = requirement.partition(":")
        if kind == "method" and what not in ctx.methods:
            return f"the target does not advertise {what!r}"
        if kind == "restart" and ctx.target.restart is None:
            return "no restart hook (Target.restart / --restart-command)"
        if kind == "capability" and what not in ctx.target.capabilities:
            return f"capability {what!r} not enabled for this target"
    return None


async def _run_check(check: Check, name: str, ctx: CheckContext) -> CheckResult:
    started = trio.current_time()
    status, reason, frame = PASS, "", None
    with trio.move_on_after(ctx.options.check_timeout) as deadline:
        try:
            reason = await check.fn(ctx) or ""
        except Exception as raised:
            exc = _unwrap(raised)
            if isinstance(exc, CheckSkipped):
                status, reason = SKIP, exc.reason
            elif isinstance(exc, CheckFailed):
                status, reason, frame = FAIL, exc.reason, exc.frame
            elif isinstance(exc, ConnectionClosed):
                status, reason = FAIL, f"connection closed unexpectedly ({exc.reason.code} {exc.reason.reason!r})"
            elif isinstance(exc, (HandshakeError, OSError)):
                status, reason = FAIL, f"connection failed: {exc!r}"
            else:
                status, reason = FAIL, f"harness error: {type(exc).__name__}: {exc}"
    if deadline.cancelled_caught:
        status, reason = FAIL, f"the check did not finish within {ctx.options.check_timeout:g} s"
    return CheckResult(name=name, area=check.area, status=status, reason=reason, frame=frame,
                       protocol=ctx.protocol, duration=trio.current_time() - started,
                       description=check.description, transcript=tuple(ctx.transcript))


async def run_conformance(target: Target, *, checks: Iterable[str] | None = None,
                          protocol_versions: Iterable[int] = (3, 7), options: Options | None = None,
                          spec: Spec | None = None) -> Report:
    """Run the conformance checks against ``target`` over the wire and report every outcome.

    Args:
        target: URL, credentials and hooks of the gateway under test.
        checks: names or glob patterns of the checks to run (``"auth.*"``, ``"handshake"``); all when
            ``None``.
        protocol_versions: the versions to test; per-version checks run once for each. The other checks
            run at the highest of these that the target speaks.
        options: timing (``Options(frame_timeout=5, max_wait=5, check_timeout=30)``).
        spec: the spec to check against (default: this package's ``protocol-spec``).

    Returns:
        A ``Report``; ``report.ok`` is false when any check failed. Nothing is raised for a failing
        target, including one that cannot be reached (that is a failed ``connect.probe``).

    Cancellation: every wait is bounded on the real clock; cancelling the caller's scope stops the run.
    """
    options = options or Options()
    spec = spec or load_spec()
    patterns = None if checks is None else list(checks)
    versions = tuple(sorted(set(protocol_versions)))
    started = trio.current_time()

    probes = {version: await _probe(target, spec, options, version) for version in versions}
    hellos = {version: hello for version, hello in probes.items() if isinstance(hello, dict)}
    spoken = tuple(hellos)
    results: list[CheckResult] = []
    table = all_checks(spec)
    if not hellos:
        reasons = "; ".join(f"protocol {v}: {why}" for v, why in probes.items())
        results.append(CheckResult(name="connect.probe", area="connect", status=FAIL,
                                   reason=f"cannot complete a handshake ({reasons})"))
    for check in table:
        for version in (versions if check.per_version else versions[-1:]):
            name = f"{check.name}[v{version}]" if check.per_version else check.name
            if not select(name, patterns):
                continue
            if not hellos:
                results.append(CheckResult(name=name, area=check.area, status=SKIP,
                                           reason="no handshake with the target succeeded",
                                           description=check.description))
                continue
            if not check.per_version:
                version = max(spoken)
            ctx = CheckContext(target, spec, options, protocol=version,
                               hello=hellos.get(version) or hellos[max(spoken)], versions=spoken)
            unmet = _unmet(check, ctx)
            if unmet is None and check.version_gate and version not in hellos:
                unmet = f"the target does not speak protocol {version} ({probes[version]})"
            if unmet is not None:
                results.append(CheckResult(name=name, area=check.area, status=SKIP, reason=unmet,
                                           protocol=version, description=check.description))
                continue
            results.append(await _run_check(check, name, ctx))
    server = dict(hellos[max(spoken)].get("server") or {}) if hellos else {}
    return Report(url=target.url, results=tuple(results), server=server, protocols=spoken,
                  duration=trio.current_time() - started)

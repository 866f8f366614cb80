"""``run_conformance``: probe the target, then run every selected check in order, one at a time.

The probe connects once per protocol version of the run, offering exactly that version, to learn which
versions the target speaks and what its hello-ok advertises (methods, events, policy). Each check then
runs alone, under its own deadline, with a fresh ``CheckContext``; checks share nothing but the probe's
findings, so one failure cannot cascade into the next check. Destructive checks (restart, the auth
lockout) run last.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from .._util import close_of
from ._context import CheckContext, CheckFailed, CheckSkipped, Options
from ._known import known_bug
from ._registry import Check, all_checks, select
from ._report import FAIL, PASS, SKIP, CheckResult, Report
from ._spec import Spec, load_spec
from ._spec4 import Spec4, load_spec4
from ._target import Target

__all__ = ["AUTO_VERSIONS", "OFFER", "run_conformance"]

PROTOCOL_4 = 4
AUTO_VERSIONS = (3, 4, 7)  # the versions served by this project's gateway (3 January, 4 OpenClaw, 7 ours)
OFFER = (3, 7)  # what a client of this project offers; today's OpenClaw answers 4, ours 7


async def _probe(
    target: Target,
    spec: Spec | Spec4,
    options: Options,
    version: int,
    *,
    offer: tuple[int, int] | None = None,
) -> dict[str, Any] | str:
    """hello-ok of a connect offering exactly ``version`` (or the range ``offer``), or why there was none."""
    ctx = CheckContext(target, spec.fresh(), options, protocol=version)
    try:
        with trio.move_on_after(options.frame_timeout * 2):
            async with ctx.open() as peer:
                await peer.send(
                    {
                        "type": "req",
                        "id": "probe",
                        "method": "connect",
                        "params": ctx.connect_params(protocol=offer),
                    }
                )
                while True:
                    frame = await peer.receive(waiting_for="the connect response")
                    if frame.get("type") == "res" and frame.get("id") == "probe":
                        break
            payload = frame.get("payload")
            if frame.get("ok") is True and isinstance(payload, dict):
                return payload
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
    if check.method is not None and ctx.protocol4:
        # Protocol 4 is OpenClaw's: a method exists there when advertised (below); strict params are
        # checked where its schema defines a params object for the method.
        if (
            check.params_check
            and isinstance(ctx.spec, Spec4)
            and not ctx.spec.has_params_schema(check.method)
        ):
            return f"OpenClaw's schema defines no params for {check.method}"
    elif check.since > ctx.protocol:
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
                status, reason = FAIL, "connection closed unexpectedly ({} {!r})".format(*close_of(exc))
            elif isinstance(exc, (HandshakeError, OSError)):
                status, reason = FAIL, f"connection failed: {exc!r}"
            else:
                status, reason = FAIL, f"harness error: {type(exc).__name__}: {exc}"
    if deadline.cancelled_caught:
        status, reason = FAIL, f"the check did not finish within {ctx.options.check_timeout:g} s"
    return CheckResult(
        name=name,
        area=check.area,
        status=status,
        reason=reason,
        frame=frame,
        protocol=ctx.protocol,
        duration=trio.current_time() - started,
        description=check.description,
        transcript=tuple(ctx.transcript),
        newer=tuple(dict.fromkeys(ctx.spec.newer_all)),
    )


def _spec_for(version: int, spec: Spec, spec4: Spec4 | None) -> Spec | Spec4:
    return spec4 if version == PROTOCOL_4 and spec4 is not None else spec


async def _probes(
    target: Target, spec: Spec, spec4: Spec4 | None, options: Options, versions: tuple[int, ...]
) -> dict[int, dict[str, Any] | str]:
    return {
        version: await _probe(target, _spec_for(version, spec, spec4), options, version)
        for version in versions
    }


async def run_conformance(
    target: Target,
    *,
    checks: Iterable[str] | None = None,
    protocol_versions: Iterable[int] | None = None,
    options: Options | None = None,
    spec: Spec | None = None,
    spec4: Spec4 | None = None,
) -> Report:
    """Run the conformance checks against ``target`` over the wire and report every outcome.

    Args:
        target: URL, credentials and hooks of the gateway under test.
        checks: names or glob patterns of the checks to run (``"auth.*"``, ``"handshake"``); all when
            ``None``.
        protocol_versions: the versions to test; per-version checks run once for each, the other checks
            at the highest of these the target speaks. ``None`` (the default): offer 3..7 as a client
            would, run the other checks at the version the target picks (4 for today's OpenClaw), and
            the per-version checks at each of 3, 4 and 7 (skipped where the target does not speak it).
        options: timing (``Options(frame_timeout=5, max_wait=5, check_timeout=30)``).
        spec: our spec, for protocols 3 and 7 (default: this package's ``protocol-spec``).
        spec4: OpenClaw's protocol-4 contract, for protocol 4 (default: the bundled schema).

    Returns:
        A ``Report``; ``report.ok`` is false when any check failed (documented upstream bugs are KNOWN,
        not failures). Nothing is raised for a failing target, including one that cannot be reached (that
        is a failed ``connect.probe``).

    Cancellation: every wait is bounded on the real clock; cancelling the caller's scope stops the run.
    """
    options = options or Options()
    spec = spec or load_spec()
    patterns = None if checks is None else list(checks)
    auto = protocol_versions is None
    versions = AUTO_VERSIONS if auto else tuple(sorted(set(protocol_versions)))  # type: ignore[arg-type]
    if spec4 is None and PROTOCOL_4 in versions + ((OFFER[1],) if auto else ()):
        spec4 = load_spec4()
    started = trio.current_time()

    probes = await _probes(target, spec, spec4, options, versions)
    hellos = {version: hello for version, hello in probes.items() if isinstance(hello, dict)}
    main = max(hellos) if hellos else None
    if auto:
        negotiated = await _probe(target, spec, options, OFFER[0], offer=OFFER)
        if isinstance(negotiated, dict) and negotiated.get("protocol") in hellos:
            main = negotiated["protocol"]
    spoken = tuple(hellos)
    results: list[CheckResult] = []
    table = all_checks(spec)
    if not hellos:
        whys = set(probes.values())
        if len(whys) == 1 and len(probes) > 1:  # one reason (a wrong token) is said once, not per version
            reasons = f"protocols {', '.join(map(str, probes))}: {whys.pop()}"
        else:
            reasons = "; ".join(f"protocol {v}: {why}" for v, why in probes.items())
        results.append(
            CheckResult(
                name="connect.probe",
                area="connect",
                status=FAIL,
                reason=f"cannot complete a handshake ({reasons})",
            )
        )
    for check in table:
        for version in versions if check.per_version else versions[-1:]:
            name = f"{check.name}[v{version}]" if check.per_version else check.name
            if not select(name, patterns):
                continue
            if main is None:
                results.append(
                    CheckResult(
                        name=name,
                        area=check.area,
                        status=SKIP,
                        reason="no handshake with the target succeeded",
                        description=check.description,
                    )
                )
                continue
            if not check.per_version:
                version = main
            ctx = CheckContext(
                target,
                _spec_for(version, spec, spec4).fresh(),
                options,
                protocol=version,
                hello=hellos.get(version) or hellos[main],
                versions=spoken,
            )
            unmet = _unmet(check, ctx)
            if unmet is None and check.version_gate and version not in hellos:
                unmet = f"the target does not speak protocol {version} ({probes[version]})"
            if unmet is not None:
                results.append(
                    CheckResult(
                        name=name,
                        area=check.area,
                        status=SKIP,
                        reason=unmet,
                        protocol=version,
                        description=check.description,
                    )
                )
                continue
            results.append(await _run_check(check, name, ctx))
    server = dict(hellos[main].get("server") or {}) if main is not None else {}
    results = [known_bug(result, server, spoken) for result in results]
    return Report(
        url=target.url,
        results=tuple(results),
        server=server,
        protocols=spoken,
        duration=trio.current_time() - started,
        main_protocol=main,
        schema=spec4.version if spec4 is not None and PROTOCOL_4 in spoken else None,
    )

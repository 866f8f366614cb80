"""Per-method checks, generated from ``methods.json``: results match the spec, bad params are refused.

For every method of the spec the target advertises, two checks:
- ``methods.<name>``: called with sample params, it answers ``ok`` with a result matching
  ``methods.<name>.result``. Read methods and ``*.list`` methods without required params are called with
  none; anything else needs an entry in ``SAMPLE_PARAMS`` (params whose effect on the target is
  harmless), or it is skipped.
- ``methods.<name>.params``: called with an unknown key it answers INVALID_REQUEST
  "invalid <name> params: …". Protocol 7: the original only validates methods that have a schema.
Node methods are called by a session with role ``node``, the others by an operator with the default
(admin) scopes.
"""

from __future__ import annotations

from typing import Any

from .._context import CheckContext
from .._registry import Check
from .._spec import Spec
from .._spec4 import Spec4
from .._target import Target  # noqa: F401 (documented: Target.disposable)

STRICT_PARAMS_SINCE = 7
INVALID_PARAMS = {"conformanceUnknownKey": True}
_OMIT: Any = object()
SESSION_KEY = "agent:main:moltbot-conformance"
SAMPLE_PARAMS: dict[str, Any] = {
    "health": _OMIT,
    "system-event": {"text": "moltbot conformance probe", "instanceId": "moltbot-conformance"},
    "sessions.preview": {"keys": [SESSION_KEY]},
    "chat.history": {"sessionKey": SESSION_KEY},
    "agent.wait": {"runId": "moltbot-conformance-no-such-run", "timeoutMs": 0},
    "cron.runs": {"id": "moltbot-conformance-no-such-job"},
}
NO_SUCH = "moltbot-conformance-no-such-id"
# Side-effect methods, called only against a target the user declared disposable (``--disposable``): they
# change its sessions, pairing requests, cron jobs or wake a heartbeat. Those naming something that does
# not exist are answered with a refusal, which passes when it is well formed (``REFUSAL_EXPECTED``).
DISPOSABLE_PARAMS: dict[str, Any] = {
    "send": {"to": "moltbot-conformance", "message": "moltbot conformance probe",
             "idempotencyKey": "moltbot-conformance-send"},
    "wake": {"mode": "next-heartbeat", "text": "moltbot conformance probe"},
    "sessions.patch": {"key": SESSION_KEY, "label": "moltbot conformance"},
    "sessions.reset": {"key": SESSION_KEY},
    "sessions.delete": {"key": SESSION_KEY},
    "sessions.compact": {"key": SESSION_KEY},
    "chat.abort": {"sessionKey": SESSION_KEY},
    "node.pair.request": {"nodeId": "moltbot-conformance-node", "displayName": "moltbot conformance"},
    "node.pair.approve": {"requestId": NO_SUCH},
    "node.pair.reject": {"requestId": NO_SUCH},
    "node.pair.verify": {"nodeId": NO_SUCH, "token": NO_SUCH},
    "node.rename": {"nodeId": NO_SUCH, "displayName": "moltbot conformance"},
    "device.pair.approve": {"requestId": NO_SUCH},
    "device.pair.reject": {"requestId": NO_SUCH},
    "cron.add": {"name": "moltbot conformance probe", "enabled": False,
                 "schedule": {"kind": "every", "everyMs": 3_600_000}, "sessionTarget": "main",
                 "wakeMode": "next-heartbeat", "payload": {"kind": "systemEvent", "text": "moltbot conformance"}},
    "cron.update": {"id": NO_SUCH, "patch": {"enabled": False}},
    "cron.run": {"id": NO_SUCH},
    "cron.remove": {"id": NO_SUCH},
}
# A refusal is the right answer here (the sample names nothing that exists, or needs what no test target
# has: a channel to send to). At 4, cron.runs on an unknown id is refused ("Automation not found")
# where 3 answered an empty list.
REFUSAL_EXPECTED = {"send", "node.pair.approve", "node.pair.reject", "node.pair.verify", "node.rename",
                    "device.pair.approve", "device.pair.reject", "cron.update", "cron.run", "cron.remove"}
REFUSAL_EXPECTED_AT_4 = {"cron.runs"}
REFUSAL_CODES = ("INVALID_REQUEST", "UNAVAILABLE", "NOT_FOUND")


def _method(ctx: CheckContext, name: str) -> dict[str, Any]:
    """The method's entry in the target's spec (4: OpenClaw's table), else in ours."""
    method = ctx.spec.methods.get(name)
    if method is None and isinstance(ctx.spec, Spec4):
        method = ctx.spec.ours.methods.get(name)
    return method or {"scope": "admin"}


def _sample(ctx: CheckContext, name: str) -> Any:
    if name in SAMPLE_PARAMS:
        return SAMPLE_PARAMS[name]
    if name in DISPOSABLE_PARAMS:
        return DISPOSABLE_PARAMS[name] if ctx.target.disposable else None
    harmless = _method(ctx, name)["scope"] == "read" or name.endswith(".list")
    if harmless and not ctx.spec.required_params(name):
        return _OMIT
    return None


def _refusal_expected(ctx: CheckContext, name: str) -> bool:
    return name in REFUSAL_EXPECTED or (ctx.protocol4 and name in REFUSAL_EXPECTED_AT_4)


def _caller(ctx: CheckContext, name: str) -> dict[str, Any]:
    """``session()`` params of a client allowed to call ``name`` (the target's spec decides the scope)."""
    return ctx.node_session_params() if _method(ctx, name)["scope"] == "node" else {}


def _result_check(name: str) -> Any:
    async def run(ctx: CheckContext) -> str:
        sample = _sample(ctx, name)
        if sample is None:
            if name in DISPOSABLE_PARAMS:
                ctx.skip(f"{name} changes the target: run with --disposable to call it")
            ctx.skip(f"no side-effect-free sample params for {name}")
        async with ctx.session(**_caller(ctx, name)) as peer:
            response = await (peer.call(name) if sample is _OMIT else peer.call(name, sample))
        error = response.get("error") or {}
        if response.get("ok") is False and _refusal_expected(ctx, name) and error.get("code") in REFUSAL_CODES:
            return f"refused as expected: {error.get('code')} {str(error.get('message'))[:120]!r}"
        ctx.expect(response.get("ok") is True, f"{name} failed", response)
        problem = ctx.spec.result_problem(name, response.get("payload"))
        ctx.expect(problem is None, f"{name} result does not match {ctx.spec.label}: {problem}", response)
        return "result matches the spec"

    run.__doc__ = f"{name}: answers ok with a result matching methods.json."
    return run


def _params_check(name: str) -> Any:
    async def run(ctx: CheckContext) -> str | None:
        async with ctx.session(**_caller(ctx, name)) as peer:
            if not ctx.protocol4:
                await peer.call_error(name, INVALID_PARAMS, prefix=f"invalid {name} params")
                return None
            response = await peer.call_error(name, INVALID_PARAMS)
        # 4: a method may refuse with a structured reason before it validates its params (chat.send:
        # SESSION_MUTATION_TARGET_REQUIRED); still INVALID_REQUEST, never run.
        error = response["error"]
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
        if str(error.get("message", "")).startswith(f"invalid {name} params"):
            return None
        ctx.expect(isinstance(details.get("code"), str),
                   f"{name}: expected 'invalid {name} params: …' or a structured refusal (details.code)", response)
        return f"refused first with {details['code']}"

    run.__doc__ = f"{name}: params with an unknown key are refused (INVALID_REQUEST)."
    return run


def method_checks(spec: Spec) -> list[Check]:
    checks = []
    for name, method in spec.methods.items():
        since = method["since"]
        result, params = _result_check(name), _params_check(name)
        checks.append(Check(f"methods.{name}", result, result.__doc__, since, requires=(f"method:{name}",),
                            method=name))
        checks.append(Check(f"methods.{name}.params", params, params.__doc__, max(since, STRICT_PARAMS_SINCE),
                            requires=(f"method:{name}",), method=name, params_check=True))
    return checks

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


def _sample(spec: Spec, name: str) -> Any:
    if name in SAMPLE_PARAMS:
        return SAMPLE_PARAMS[name]
    harmless = spec.methods[name]["scope"] == "read" or name.endswith(".list")
    if harmless and not spec.required_params(name):
        return _OMIT
    return None


def _caller(spec: Spec, name: str) -> dict[str, Any]:
    """``session()`` params of a client allowed to call ``name``."""
    return {"role": "node", "scopes": None} if spec.methods[name]["scope"] == "node" else {}


def _result_check(name: str) -> Any:
    async def run(ctx: CheckContext) -> str:
        sample = _sample(ctx.spec, name)
        if sample is None:
            ctx.skip(f"no side-effect-free sample params for {name}")
        async with ctx.session(**_caller(ctx.spec, name)) as peer:
            response = await (peer.call(name) if sample is _OMIT else peer.call(name, sample))
        ctx.expect(response.get("ok") is True, f"{name} failed", response)
        problem = ctx.spec.result_problem(name, response.get("payload"))
        ctx.expect(problem is None, f"{name} result does not match methods.json: {problem}", response)
        return "result matches the spec"

    run.__doc__ = f"{name}: answers ok with a result matching methods.json."
    return run


def _params_check(name: str) -> Any:
    async def run(ctx: CheckContext) -> None:
        async with ctx.session(**_caller(ctx.spec, name)) as peer:
            await peer.call_error(name, INVALID_PARAMS, prefix=f"invalid {name} params")

    run.__doc__ = f"{name}: params with an unknown key are refused (INVALID_REQUEST)."
    return run


def method_checks(spec: Spec) -> list[Check]:
    checks = []
    for name, method in spec.methods.items():
        since = method["since"]
        result, params = _result_check(name), _params_check(name)
        checks.append(Check(f"methods.{name}", result, result.__doc__, since, requires=(f"method:{name}",)))
        checks.append(Check(f"methods.{name}.params", params, params.__doc__, max(since, STRICT_PARAMS_SINCE),
                            requires=(f"method:{name}",)))
    return checks

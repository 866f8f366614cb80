"""Authorization: scopes and roles decide before the method lookup (handshake.md, rule 3).

Unknown methods fall into the admin bucket, so they tell an admin ("unknown method") from a non-admin
("missing scope: operator.admin") without calling anything that has effects. Methods that exist are
called with deliberately invalid params, so a gateway that wrongly authorizes them still changes nothing.
"""

from __future__ import annotations

from typing import Any

from .._context import CheckContext, Peer
from .._registry import check
from .session import UNKNOWN_METHOD

# The reference's node-only methods: callable by role node only, by nobody else, admins included.
NODE_ONLY_METHODS = ("node.event", "node.invoke.result", "skills.bins")
INVALID_PARAMS = {"conformanceUnknownKey": True}


def _advertised(ctx: CheckContext, scope: str) -> list[str]:
    return [name for name in ctx.spec.methods_in_scope(scope) if name in ctx.methods]


async def _expect_missing_scope(
    ctx: CheckContext, peer: Peer, method: str, scope: str, params: Any = None
) -> None:
    """``method`` is refused for lack of ``operator.<scope>``: at 3 and 7 INVALID_REQUEST "missing scope:
    operator.<scope>"; at 4 FORBIDDEN with the same message and details {code: MISSING_SCOPE,
    missingScope, requiredScopes}."""
    wanted = f"operator.{scope}"
    if not ctx.protocol4:
        await peer.call_error(method, params, message=f"missing scope: {wanted}")
        return
    response = await peer.call_error(method, params, code="FORBIDDEN", message=f"missing scope: {wanted}")
    details = response["error"].get("details")
    ctx.expect(
        isinstance(details, dict)
        and details.get("code") == "MISSING_SCOPE"
        and details.get("missingScope") == wanted
        and wanted in (details.get("requiredScopes") or []),
        f"FORBIDDEN must carry details {{code: MISSING_SCOPE, missingScope: {wanted!r}, requiredScopes}}",
        response,
    )


@check("scopes.none_asked_none_granted")
async def none_asked_none_granted(ctx: CheckContext) -> str:
    """Protocol 4: an operator that asks for no scopes gets none (hello-ok auth.scopes []; reads FORBIDDEN)."""
    if not ctx.protocol4:
        ctx.skip("protocol 4's rule (3 and 7 grant operator.admin: scopes.default_operator_is_admin)")
    async with ctx.session(scopes=None) as peer:
        auth = peer.hello.get("auth") or {}
        ctx.expect(
            auth.get("scopes") == [], "hello-ok auth.scopes must be [] when no scopes were asked", peer.hello
        )
        method = ctx.scope_probe_method()
        await _expect_missing_scope(ctx, peer, method, "read")
    return f"auth.scopes [], {method} refused FORBIDDEN"


@check("scopes.default_operator_is_admin")
async def default_operator_is_admin(ctx: CheckContext) -> None:
    """An operator that asks for no scopes is granted operator.admin (protocols 3 and 7)."""
    if ctx.protocol4:
        ctx.skip("protocol 4 grants no scopes when none are asked (scopes.none_asked_none_granted)")
    async with ctx.session(scopes=None) as peer:
        await peer.call_error(UNKNOWN_METHOD, message=f"unknown method: {UNKNOWN_METHOD}")
        for method in _advertised(ctx, "admin")[:3]:
            response = await peer.call(method, INVALID_PARAMS)
            message = str((response.get("error") or {}).get("message", ""))
            ctx.expect(
                not message.startswith(("missing scope", "unauthorized role")),
                f"an operator without requested scopes may not call {method}",
                response,
            )


@check("scopes.read_only_operator")
async def read_only_operator(ctx: CheckContext) -> str:
    """operator.read may call read methods, not write or admin ones ("missing scope: …")."""
    async with ctx.session(scopes=["operator.read"]) as peer:
        await peer.ping()
        await _expect_missing_scope(ctx, peer, UNKNOWN_METHOD, "admin")
        refused = [UNKNOWN_METHOD]
        for scope in ("write", "admin"):
            for method in _advertised(ctx, scope)[:3]:
                await _expect_missing_scope(ctx, peer, method, scope, INVALID_PARAMS)
                refused.append(method)
    return "refused: " + ", ".join(refused)


@check("scopes.write_implies_read")
async def write_implies_read(ctx: CheckContext) -> None:
    """operator.write may also call read methods, but not admin ones."""
    async with ctx.session(scopes=["operator.write"]) as peer:
        await peer.ping()
        await _expect_missing_scope(ctx, peer, UNKNOWN_METHOD, "admin")


@check("scopes.node_role")
async def node_role(ctx: CheckContext) -> None:
    """A node may call node methods only: an operator method answers "unauthorized role: node"."""
    async with ctx.session(**ctx.node_session_params()) as peer:
        await peer.call_error(ctx.scope_probe_method(), message="unauthorized role: node")


@check("scopes.node_only_methods")
async def node_only_methods(ctx: CheckContext) -> None:
    """Node-only methods refuse operators, admins included: "unauthorized role: operator"."""
    methods = [*_advertised(ctx, "node"), *NODE_ONLY_METHODS]
    async with ctx.session() as peer:
        for method in dict.fromkeys(methods):
            await peer.call_error(method, INVALID_PARAMS, message="unauthorized role: operator")

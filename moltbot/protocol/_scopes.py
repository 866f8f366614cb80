"""The scope model of protocol 4 (OpenClaw's), one for every version: the scopes, what implies what, what
each method needs, what a connection is granted at connect, and which broadcast events it may see.

Pure (no I/O). The method table is the official one (``_scope_table``, vendored from OpenClaw's
``protocol.schema.json``); the rules below are OpenClaw 2026.9.6's, with the version
differences this gateway keeps for protocol 3 and 7 clients marked "3/7".

Rule 1. Scopes: ``operator.read``, ``.write``, ``.admin``, ``.approvals``, ``.questions``, ``.pairing``,
        ``.talk``, ``.talk.secrets`` (and ``.sessions.read``/``.sessions.write``, accepted but inert: this
        gateway has no per-caller session ownership). Implication: admin ⊇ every ``operator.*``; write ⇒
        read, talk, sessions.*; read ⇒ sessions.read; all else exact.
Rule 2. A method's scope is the vendored table's; our own methods the schema lacks keep their bucket;
        unknown names need admin. ``node`` methods are for role node only, and a node calls nothing else:
        either way INVALID_REQUEST "unauthorized role: <role>". ``dynamic`` methods decide from their
        params (``agent`` "/new", "/reset" → admin; ``node.invoke`` of the admin-only commands → admin;
        ``sessions.patch``/``sessions.delete`` by their keys; …).
Rule 3. At 4 a missing scope is FORBIDDEN "missing scope: <scope>" with ``details {code: MISSING_SCOPE,
        missingScope, requiredScopes}``; 3/7: INVALID_REQUEST with the same message and details. At 4,
        ``health`` is open to every authenticated connection (nodes included), as OpenClaw has it.
Rule 4. Granted at connect: at 4 the requested scopes that are in the closed set (unknown strings are
        dropped; none asked → none); 3/7: the requested strings as given, none asked → ``operator.admin``
        for an operator. A node holds no operator scopes at 4.
Rule 5. Device-less (a shared secret, no device): at 4 the scopes are cleared unless the client is
        ``cli``/``cli`` or ``gateway-client``/``backend`` on a direct-local connection without ``Origin``;
        3/7: cleared unless any local client without ``Origin``. The own Control UI under
        ``allowInsecureAuth`` keeps them at every version (``ui_bypass``).
Rule 6. Events: each broadcast event needs one of its guard's scopes (OpenClaw's table: chat/agent/
        presence/cron need read, pairing events pairing, approval events approvals, …); guard-less ones
        (tick, health, heartbeat, shutdown) reach everyone. Unknown names need admin (``plugin.*``:
        write). Nodes see only guard-less events at 4; 3/7: everything but pairing and approval events.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from ._errors import FORBIDDEN, INVALID_REQUEST, RemoteProtocolError
from ._scope_table import METHOD_SCOPES

__all__ = [
    "REQUESTABLE_SCOPES", "authorize", "default_scopes", "event_guard", "grant_scopes", "guard_admits",
    "method_scope", "required_scopes", "satisfies",
]

ROLES = ("operator", "node")  # the roles a connect may ask for
ADMIN = "operator.admin"
READ = "operator.read"
WRITE = "operator.write"
APPROVALS = "operator.approvals"
QUESTIONS = "operator.questions"
PAIRING = "operator.pairing"
TALK = "operator.talk"
TALK_SECRETS = "operator.talk.secrets"
SESSIONS_READ = "operator.sessions.read"
SESSIONS_WRITE = "operator.sessions.write"
NODE = "node"
DYNAMIC = "dynamic"

# The closed set a protocol-4 client may ask for (OpenClaw's KNOWN_OPERATOR_SCOPES).
REQUESTABLE_SCOPES = (READ, WRITE, ADMIN, APPROVALS, QUESTIONS, PAIRING, TALK, TALK_SECRETS, SESSIONS_READ,
                      SESSIONS_WRITE)
_REQUESTABLE = frozenset(REQUESTABLE_SCOPES)
_IMPLIED_BY_WRITE = frozenset({READ, TALK, SESSIONS_READ, SESSIONS_WRITE})

# Methods of ours the schema does not have (removed upstream, or never there): their January bucket.
_OWN = {"node.pair.request": PAIRING, "node.pair.verify": PAIRING, "browser.request": WRITE,
        # newer than the 2026.9.1 schema: OpenClaw 2026.9.6's own method table (dist/method-scopes-*.mjs)
        "plugins.controlUi.list": READ}
# At 4, callable by any operator whatever its scopes (the scope-upgrade flow itself).
_ANY_OPERATOR = frozenset({"device.scopes.requestUpgrade", "device.scopes.waitUpgrade"})
_CLIENTS_KEEPING_SCOPES = frozenset({("cli", "cli"), ("gateway-client", "backend")})


def satisfies(required: str, granted: Collection[str]) -> bool:
    """Whether ``granted`` covers ``required`` (Rule 1)."""
    if not required.startswith("operator."):
        return False
    if required in granted or ADMIN in granted:
        return True
    if required in _IMPLIED_BY_WRITE and WRITE in granted:
        return True
    return required == SESSIONS_READ and (READ in granted or SESSIONS_WRITE in granted)


def method_scope(method: str) -> str:
    """The table's scope of any method name: an ``operator.*`` scope, ``node`` or ``dynamic`` (Rule 2)."""
    return METHOD_SCOPES.get(method) or _OWN.get(method) or ADMIN


# --- dynamic methods (OpenClaw's method-scopes.ts) ---------------------------------------------------

_RESET_COMMAND = re.compile(r"/(new|reset)(?:\s+.*)?", re.IGNORECASE | re.DOTALL)
_ADMIN_NODE_COMMANDS = frozenset({"browser.proxy", "browser.proxy.upload.v1", "fs.listDir", "terminal.upload"})
_PATCH_WRITE_KEYS = frozenset(
    "key agentId expectedSessionId expectedLifecycleRevision expectedPermissionMode expectedMarkedUnreadAt "
    "label autoLabel icon color category boardFace boardPresentation pinned archived unread model "
    "agentRuntime thinkingLevel fastMode permissionMode".split())
_PATCH_MANY_WRITE_KEYS = _PATCH_WRITE_KEYS - frozenset(
    "key agentId expectedSessionId expectedLifecycleRevision expectedPermissionMode expectedMarkedUnreadAt".split())
_DELETE_WRITE_KEYS = frozenset({"key", "agentId", "deleteTranscript", "expectedSessionId", "archivedOnly"})


def _patch_scope(patch: Any, write_keys: frozenset[str]) -> str:
    if not isinstance(patch, dict):
        return WRITE
    if patch.get("permissionMode") == "full" or "sandboxMode" in patch:
        return ADMIN
    return WRITE if write_keys.issuperset(patch) else ADMIN


def _dynamic(method: str, params: Any) -> tuple[str, ...]:
    """The scopes a ``dynamic`` method needs with these (raw) params. Methods whose params rule is not
    modelled here (this gateway does not serve them) need admin: closed until someone models them."""
    p = params if isinstance(params, dict) else {}
    if method == "agent":
        message = p.get("message")
        return (ADMIN,) if isinstance(message, str) and _RESET_COMMAND.fullmatch(message) else (WRITE,)
    if method == "node.invoke":
        # OpenClaw lowers browser-proxy profile mutations to write because its handler then refuses them;
        # ours does not, so every admin-only command stays admin.
        return (ADMIN,) if p.get("command") in _ADMIN_NODE_COMMANDS else (WRITE,)
    if method == "sessions.patch":
        return (_patch_scope(params, _PATCH_WRITE_KEYS),)
    if method == "sessions.patchMany":
        return (_patch_scope(p.get("patch"), _PATCH_MANY_WRITE_KEYS),)
    if method == "sessions.delete":
        if p.get("archivedOnly") is not True:
            return (ADMIN,)
        return (WRITE,) if _DELETE_WRITE_KEYS.issuperset(p) else (ADMIN,)
    if method == "talk.config":
        return (READ, TALK_SECRETS) if p.get("includeSecrets") is True else (READ,)
    if method == "environments.list":
        return (WRITE,) if isinstance(p.get("runtimeId"), str) and p["runtimeId"] else (READ,)
    if method == "channels.pairing.approve":
        return (PAIRING, ADMIN) if p.get("bootstrapCommandOwner") is True else (PAIRING,)
    if method == "fs.listDir":
        return (ADMIN,) if "nodeId" in p else (WRITE,)
    return (ADMIN,)  # sessions.create, sessions.dispatch, sessions.move, plugins.sessionAction


def required_scopes(method: str, params: Any = None) -> tuple[str, ...]:
    """The operator scopes ``method`` needs with ``params`` (all of them); ``()`` for a node method."""
    scope = method_scope(method)
    if scope == NODE:
        return ()
    return _dynamic(method, params) if scope == DYNAMIC else (scope,)


def authorize(role: str, scopes: Collection[str], method: str, params: Any = None, *, protocol: int) -> None:
    """Raise ``RemoteProtocolError`` unless ``role`` holding ``scopes`` may call ``method`` (Rules 2–3)."""
    v4 = protocol == 4
    if v4 and method == "health":
        return
    if method_scope(method) == NODE:
        if role != "node":
            raise RemoteProtocolError(INVALID_REQUEST, f"unauthorized role: {role}")
        return
    if role != "operator":
        raise RemoteProtocolError(INVALID_REQUEST, f"unauthorized role: {role}")
    if ADMIN in scopes or (v4 and method in _ANY_OPERATOR):
        return
    required = required_scopes(method, params)
    missing = next((scope for scope in required if not satisfies(scope, scopes)), None)
    if missing is not None:
        details = {"code": "MISSING_SCOPE", "missingScope": missing, "requiredScopes": list(required)}
        raise RemoteProtocolError(FORBIDDEN if v4 else INVALID_REQUEST, f"missing scope: {missing}",
                                  details=details)


# --- connect ----------------------------------------------------------------------------------------


def default_scopes(role: str, requested: Collection[str] | None, protocol: int = 7) -> tuple[str, ...]:
    """Scopes from what was asked, before the device-less binding (Rule 4)."""
    if protocol == 4:
        if role != "operator":
            return ()
        return tuple(dict.fromkeys(scope for scope in requested or () if scope in _REQUESTABLE))
    if requested:
        return tuple(requested)
    return (ADMIN,) if role == "operator" else ()


def grant_scopes(protocol: int, role: str, requested: Collection[str] | None, *, client_id: str,
                 client_mode: str, device_less: bool, local: bool, has_origin: bool,
                 ui_bypass: bool = False) -> tuple[str, ...]:
    """The scopes a connection holds after auth (Rules 4–5).

    ``local``: direct-local (loopback peer and Host, no proxy headers); ``has_origin``: a browser's
    ``Origin`` came with the upgrade; ``ui_bypass``: the gateway's own Control UI, device-less under
    ``allowInsecureAuth``/``dangerouslyDisableDeviceAuth``. A paired device is bounded by its pairing
    record instead (``devices.admission``), so ``device_less=False`` only applies Rule 4.
    """
    scopes = default_scopes(role, requested, protocol)
    if not device_less or ui_bypass:
        return scopes
    keeps = local and not has_origin
    if protocol == 4:
        keeps = keeps and (client_id, client_mode) in _CLIENTS_KEEPING_SCOPES
    return scopes if keeps else ()


# --- events (OpenClaw's server-broadcast-scopes.ts, 2026.9.6) ---------------------------------------


def _events(names: str, *guard: str) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(names.split(), guard)


_EVENT_GUARDS: dict[str, tuple[str, ...]] = {
    **_events("tick health heartbeat shutdown gateway.suspension update.available"),
    **_events("agent chat cron presence board.changed board.command progressCard.changed ui.command "
              "chat.send_timing chat.side_result talk.event task task.suggestion config.changed "
              "users.prefs.changed mentions.changed skills.changed plugins.changed voicewake.changed "
              "voicewake.routing.changed node.presence node.hostStats node.runnerInventory.changed "
              "sessions.catalog.host sessions.changed controlUi.sessionPullRequests.changed "
              "plugins.controlUi.changed session.message session.observer session.operation session.sharing "
              "session.sharing.evidence session.suggestion session.typing session.tool portal.changed", READ),
    **_events("chat.metadata.changed", READ, SESSIONS_READ),
    **_events("exec.approval.requested exec.approval.resolved plugin.approval.requested "
              "plugin.approval.resolved openclaw.approval.requested openclaw.approval.resolved "
              "session.approval", APPROVALS),
    **_events("question.requested question.resolved", QUESTIONS),
    **_events("talk.mode talk.voice.change", TALK),
    **_events("device.pair.changed device.pair.requested device.pair.resolved device.pair.setup.completed "
              "device.pair.setup.deliveryUncertain node.pair.requested node.pair.resolved", PAIRING),
    **_events("update.run.changed plugins.install.progress terminal.data terminal.exit", ADMIN),
}
_JANUARY_NODE_HIDDEN = frozenset({PAIRING, APPROVALS})


def event_guard(event: str) -> tuple[str, ...]:
    """The scopes of which a connection needs one to receive ``event`` (``()``: everyone; Rule 6)."""
    guard = _EVENT_GUARDS.get(event)
    if guard is not None:
        return guard
    return (WRITE,) if event.startswith("plugin.") else (ADMIN,)


def guard_admits(guard: tuple[str, ...], role: str, scopes: Collection[str], protocol: int) -> bool:
    """Whether a connection (``role``, ``scopes``, ``protocol``) receives an event with ``guard``."""
    if not guard:
        return True
    if role != "operator":
        return protocol != 4 and role == "node" and _JANUARY_NODE_HIDDEN.isdisjoint(guard)
    if ADMIN in scopes or guard[0] in scopes:  # the common cases, once per connection per event
        return True
    return any(satisfies(scope, scopes) for scope in guard)

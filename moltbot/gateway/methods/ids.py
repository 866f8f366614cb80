"""Ids in request params that become file names or stored keys are checked before any handler runs.

One table says, per method, which params are ids of which kind (``store/ids.py`` has the rules); a bad
one is ``INVALID_REQUEST "invalid <method> params: <field> must match …"``, naming the field, never the
value (it may be huge or a path) nor a file. The stores check again where an id meets the file system,
so an id from elsewhere (a channel message, a hand-edited file) cannot name a path either.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from ...agents.sessions import InvalidSessionEntry
from ...protocol import INVALID_REQUEST, UNAVAILABLE, ProtocolError
from ...store.ids import RULES

log = logging.getLogger("moltbot.gateway")

# method -> ((python attribute, wire name, kind), …); a list-valued param is checked item by item, a
# dotted attribute names a field of a nested object.
ID_PARAMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "agent": (("agent_id", "agentId", "agent"), ("session_key", "sessionKey", "key"),
              ("session_id", "sessionId", "session"), ("account_id", "accountId", "account"),
              ("reply_account_id", "replyAccountId", "account")),
    "agent.identity.get": (("agent_id", "agentId", "agent"), ("session_key", "sessionKey", "key")),
    "chat.send": (("session_key", "sessionKey", "key"),),
    "chat.history": (("session_key", "sessionKey", "key"),),
    "chat.abort": (("session_key", "sessionKey", "key"),),
    "sessions.list": (("agent_id", "agentId", "agent"),),
    "sessions.preview": (("keys", "keys", "key"),),
    "sessions.patch": (("key", "key", "key"),),
    "sessions.reset": (("key", "key", "key"),),
    "sessions.delete": (("key", "key", "key"),),
    "sessions.compact": (("key", "key", "key"), ("agent_id", "agentId", "agent")),
    "usage.cost": (("agent_id", "agentId", "agent"),),
    "cron.add": (("agent_id", "agentId", "agent"),),
    "cron.update": (("id", "id", "job"), ("job_id", "jobId", "job"), ("patch.agent_id", "patch.agentId", "agent")),
    "cron.remove": (("id", "id", "job"), ("job_id", "jobId", "job")),
    "cron.run": (("id", "id", "job"), ("job_id", "jobId", "job")),
    "cron.runs": (("id", "id", "job"), ("job_id", "jobId", "job")),
    "channels.logout": (("account_id", "accountId", "account"),),
    "send": (("account_id", "accountId", "account"), ("session_key", "sessionKey", "key")),
    "web.login.start": (("account_id", "accountId", "account"),),
    "web.login.wait": (("account_id", "accountId", "account"),),
    "node.pair.request": (("node_id", "nodeId", "name"),),
    "node.pair.approve": (("request_id", "requestId", "name"),),
    "node.pair.reject": (("request_id", "requestId", "name"),),
    "node.pair.verify": (("node_id", "nodeId", "name"),),
    "node.rename": (("node_id", "nodeId", "name"),),
    "node.describe": (("node_id", "nodeId", "name"),),
    "node.invoke": (("node_id", "nodeId", "name"),),
    "exec.approvals.node.get": (("node_id", "nodeId", "name"),),
    "exec.approvals.node.set": (("node_id", "nodeId", "name"),),
    "device.pair.approve": (("request_id", "requestId", "name"),),
    "device.pair.reject": (("request_id", "requestId", "name"),),
    "device.token.rotate": (("device_id", "deviceId", "name"),),
    "device.token.revoke": (("device_id", "deviceId", "name"),),
    # what today's OpenClaw Control UI calls at start (ui.py)
    "sessions.describe": (("key", "key", "key"),),
    "sessions.messages.subscribe": (("key", "key", "key"), ("agent_id", "agentId", "agent")),
    "sessions.viewers.set": (("session_keys", "sessionKeys", "key"), ("agent_id", "agentId", "agent")),
    "chat.startup": (("session_key", "sessionKey", "key"), ("agent_id", "agentId", "agent")),
    "chat.metadata": (("session_key", "sessionKey", "key"), ("agent_id", "agentId", "agent")),
}


PREVIEW_KEYS = 64  # keys of one sessions.preview that are read (the rest are ignored, and not checked)
VIEWER_KEYS = 32  # sessions.viewers.set keys read (the schema's maxItems)
# When the gateway loaded its method table (system.info's uptimeMs): here, not in ui.py, which is imported
# on the first call of one of its methods.
STARTED = time.monotonic()

# A list param of which the handler uses only the first items: only those are checked (100,000 keys
# cost 21 ms to check, of which 64 are read).
ITEMS_USED = {("sessions.preview", "keys"): PREVIEW_KEYS, ("sessions.viewers.set", "session_keys"): VIEWER_KEYS}


def check_ids(method: str, params: Any) -> None:
    """Raise ``INVALID_REQUEST`` naming the first id param of ``method`` that breaks its rule."""
    for attribute, wire, kind in ID_PARAMS.get(method, ()):
        value: Any = params
        for name in attribute.split("."):
            value = getattr(value, name, None)
        check, rule = RULES[kind]
        items = value[:ITEMS_USED.get((method, attribute))] if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, str) or not item.strip():  # absent (or UNSET): the handler's default applies
                continue
            if not check(item):
                raise ProtocolError(INVALID_REQUEST, f"invalid {method} params: {wire} must {rule}")


Handler = Callable[[Any, Any, Any], Awaitable[Any]]


def checked(method: str, handler: Handler | str) -> Handler:
    """``handler`` behind ``check_ids(method, params)``, with the file system's faults made clean.

    ``handler`` may be a reference, ``"module.function"`` (a module of this package): the module is then
    imported on the first call (a bad reference fails that call, as a handler bug; a test resolves them all).

    What the state dir can throw at a handler (``STATE_FAULTS``: an ``OSError``, a state file that is not
    UTF-8 or not JSON, a name the OS cannot encode or that holds a NUL, a session entry naming no usable
    file) is logged with its detail (paths included) and answered ``UNAVAILABLE`` without them: the
    client learns what failed, the owner reads why in the log. Any other exception is a bug, and goes
    on to the connection's handler-bug answer ("internal error"), with its traceback in the log.
    """
    target: Handler | None = None if isinstance(handler, str) else handler

    async def run(runtime: Any, connection: Any, params: Any) -> Any:
        nonlocal target
        check_ids(method, params)
        if target is None:
            target = resolve_handler(cast(str, handler))
        try:
            return await target(runtime, connection, params)
        except (*STATE_FAULTS, ValueError) as exc:
            if not is_state_fault(exc):
                raise
            log.error("%s failed: %s: %s", method, type(exc).__name__, exc)
            raise ProtocolError(UNAVAILABLE, f"{method} failed: the gateway could not read or write its state "
                                             "(see the gateway log)") from None

    if target is not None:
        functools.update_wrapper(run, target)
    else:
        run.__name__ = run.__qualname__ = cast(str, handler).rpartition(".")[2]
    return run


def resolve_handler(ref: str) -> Handler:
    """The handler a reference names: ``"cron.cron_add"`` is ``cron_add`` of ``moltbot.gateway.methods.cron``."""
    module, _, name = ref.rpartition(".")
    return cast(Handler, getattr(importlib.import_module(f"{__package__}.{module}"), name))


STATE_FAULTS = (OSError, UnicodeError, json.JSONDecodeError, InvalidSessionEntry)


def is_state_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a file or state fault rather than a bug: one of ``STATE_FAULTS``, or the
    ``ValueError`` the OS functions raise for a path holding a NUL ("embedded null byte")."""
    return isinstance(exc, STATE_FAULTS) or (type(exc) is ValueError and "embedded null" in str(exc))

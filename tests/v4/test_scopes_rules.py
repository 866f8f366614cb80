"""The scope model's pure rules (moltbot.protocol._scopes): implication, dynamic methods, the connect grant."""

from __future__ import annotations

import pytest

from moltbot.protocol import INVALID_REQUEST, RemoteProtocolError
from moltbot.protocol._errors import FORBIDDEN
from moltbot.protocol._scopes import (
    event_guard,
    grant_scopes,
    guard_admits,
    required_scopes,
    satisfies,
)


@pytest.mark.parametrize(("required", "granted", "expected"), [
    ("operator.read", {"operator.write"}, True),
    ("operator.talk", {"operator.write"}, True),
    ("operator.questions", {"operator.write"}, False),
    ("operator.approvals", {"operator.write"}, False),
    ("operator.write", {"operator.read"}, False),
    ("operator.talk.secrets", {"operator.talk"}, False),
    ("operator.talk.secrets", {"operator.admin"}, True),
    ("operator.pairing", {"operator.admin"}, True),
    ("node", {"operator.admin"}, False),
])
def test_implication(required, granted, expected):
    assert satisfies(required, granted) is expected


@pytest.mark.parametrize(("method", "params", "expected"), [
    ("agent", {"message": "hello"}, ("operator.write",)),
    ("agent", {"message": "/new"}, ("operator.admin",)),
    ("agent", {"message": "/RESET keep the notes"}, ("operator.admin",)),
    ("agent", {"message": " /new"}, ("operator.write",)),
    ("agent", {"message": "/newer"}, ("operator.write",)),
    ("node.invoke", {"command": "system.run"}, ("operator.write",)),
    ("node.invoke", {"command": "browser.proxy"}, ("operator.admin",)),
    ("node.invoke", {"command": "browser.proxy.upload.v1"}, ("operator.admin",)),
    ("node.invoke", {"command": "fs.listDir"}, ("operator.admin",)),
    ("node.invoke", {"command": "terminal.upload"}, ("operator.admin",)),
    ("sessions.patch", {"key": "main", "label": "x", "thinkingLevel": "low"}, ("operator.write",)),
    ("sessions.patch", {"key": "main", "permissionMode": "full"}, ("operator.admin",)),
    ("sessions.patch", {"key": "main", "sandboxMode": "off"}, ("operator.admin",)),
    ("sessions.patch", {"key": "main", "sendPolicy": "allow"}, ("operator.admin",)),
    ("sessions.delete", {"key": "main"}, ("operator.admin",)),
    ("sessions.delete", {"key": "main", "archivedOnly": True, "deleteTranscript": True}, ("operator.write",)),
    ("sessions.delete", {"key": "main", "archivedOnly": True, "other": 1}, ("operator.admin",)),
    ("talk.config", {"includeSecrets": True}, ("operator.read", "operator.talk.secrets")),
    ("config.get", None, ("operator.read",)),
    ("no.such.method", None, ("operator.admin",)),
    ("node.event", None, ()),
])
def test_required_scopes(method, params, expected):
    assert required_scopes(method, params) == expected


def _grant(protocol, requested, client=("cli", "cli"), *, device_less=True, local=True, has_origin=False,
           role="operator"):
    return grant_scopes(protocol, role, requested, client_id=client[0], client_mode=client[1],
                        device_less=device_less, local=local, has_origin=has_origin)


def test_protocol_4_grants_nothing_unasked_and_drops_unknown_strings():
    assert _grant(4, None) == ()
    assert _grant(4, ["operator.read", "operator.bogus", "x", "operator.read"]) == ("operator.read",)
    assert _grant(4, ["operator.read"], role="node", device_less=False) == ()


def test_protocols_3_and_7_keep_the_january_default():
    assert _grant(3, None) == _grant(7, []) == ("operator.admin",)
    assert _grant(7, None, role="node") == ()
    assert _grant(7, ["x.y"]) == ("x.y",)


@pytest.mark.parametrize(("client", "kept"), [
    (("cli", "cli"), True), (("gateway-client", "backend"), True), (("test", "test"), False),
    (("cli", "probe"), False), (("openclaw-probe", "probe"), False), (("moltbot-cli", "cli"), False),
])
def test_protocol_4_device_less_keeps_scopes_only_for_two_local_kinds(client, kept):
    assert _grant(4, ["operator.admin"], client) == (("operator.admin",) if kept else ())
    assert _grant(4, ["operator.admin"], client, has_origin=True) == ()
    assert _grant(4, ["operator.admin"], client, local=False) == ()
    assert _grant(4, ["operator.admin"], client, device_less=False) == ("operator.admin",)


def test_protocol_7_device_less_keeps_scopes_for_any_local_non_browser():
    assert _grant(7, ["operator.admin"], ("test", "test")) == ("operator.admin",)
    assert _grant(7, ["operator.admin"], ("test", "test"), has_origin=True) == ()


def test_missing_scope_error_by_version():
    from moltbot.protocol._scopes import authorize

    for protocol, code in ((4, FORBIDDEN), (3, INVALID_REQUEST), (7, INVALID_REQUEST)):
        with pytest.raises(RemoteProtocolError) as info:
            authorize("operator", {"operator.write"}, "talk.config", {"includeSecrets": True}, protocol=protocol)
        assert (info.value.code, info.value.message) == (code, "missing scope: operator.talk.secrets")
        assert info.value.details == {"code": "MISSING_SCOPE", "missingScope": "operator.talk.secrets",
                                      "requiredScopes": ["operator.read", "operator.talk.secrets"]}


@pytest.mark.parametrize(("event", "role", "scopes", "protocol", "expected"), [
    ("chat", "operator", {"operator.read"}, 4, True),
    ("chat", "operator", {"operator.write"}, 4, True),
    ("chat", "operator", {"operator.pairing"}, 4, False),
    ("chat", "operator", set(), 7, False),
    ("chat", "node", set(), 4, False),
    ("chat", "node", set(), 7, True),
    ("tick", "node", set(), 4, True),
    ("node.pair.requested", "node", set(), 7, False),
    ("device.pair.requested", "operator", {"operator.pairing"}, 4, True),
    ("some.future.event", "operator", {"operator.write"}, 4, False),
    ("some.future.event", "operator", {"operator.admin"}, 4, True),
    ("plugin.x.changed", "operator", {"operator.write"}, 4, True),
])
def test_event_visibility(event, role, scopes, protocol, expected):
    assert guard_admits(event_guard(event), role, scopes, protocol) is expected

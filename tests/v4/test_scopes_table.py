"""The vendored method → scope table is OpenClaw's (protocol.schema.json ``methods``), and ours follows it."""

from __future__ import annotations

import hashlib

from moltbot.protocol import METHODS, scope_of
from moltbot.protocol._scope_table import METHOD_SCOPES, SCHEMA_SHA256
from moltbot.protocol._scope_table_gen import TABLE_PATH, package_version, render_table
from moltbot.protocol._scopes import REQUESTABLE_SCOPES, method_scope
from tests.conftest import shared_reference

# Methods this gateway serves that the 2026.9.1 schema does not list (removed upstream in 2026.7; and
# browser.request, a plugin method there, write-scoped as in the January original).
OURS_ONLY = {"node.pair.request": "pairing", "node.pair.verify": "pairing", "plugins.controlUi.list": "read",
             "browser.request": "write"}


def test_vendored_table_equals_the_schemas_methods(openclaw_schema):
    assert METHOD_SCOPES == {name: entry["scope"] for name, entry in openclaw_schema["methods"].items()}
    assert len(METHOD_SCOPES) == 410


def test_vendored_file_is_what_the_generator_writes_from_the_pinned_schema(openclaw_schema):
    path = shared_reference("openclaw-protocol", "protocol.schema.json")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert SCHEMA_SHA256 == sha256
    expected = render_table(openclaw_schema, version=package_version(path), sha256=sha256)
    assert TABLE_PATH.read_text() == expected, (
        "run python -m moltbot.protocol._scope_table_gen ../shared/reference/openclaw-protocol/protocol.schema.json")


def test_every_method_we_serve_has_the_schemas_scope(openclaw_schema):
    methods = openclaw_schema["methods"]
    for name in METHODS:
        if name in methods:
            assert method_scope(name) == methods[name]["scope"], name
            assert scope_of(name) == methods[name]["scope"].removeprefix("operator."), name
        else:
            assert scope_of(name) == OURS_ONLY[name], name


def test_config_reads_are_read_scoped_and_unknown_names_admin():
    assert scope_of("config.get") == scope_of("config.schema") == "read"
    assert scope_of("config.set") == "admin"
    assert scope_of("no.such.method") == "admin"
    assert [scope_of(m) for m in ("agent", "node.invoke", "sessions.patch", "sessions.delete")] == ["dynamic"] * 4


def test_every_scope_the_schema_names_is_requestable(openclaw_schema):
    named = {entry["scope"] for entry in openclaw_schema["methods"].values()} - {"node", "dynamic"}
    assert named <= set(REQUESTABLE_SCOPES)

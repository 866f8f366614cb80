"""The conformance harness speaks protocol 4 as OpenClaw defines it (against a fake of today's gateway).

The fake (``tests/conformance/fake_gateway4.py``) serves only 4, grants no scopes unasked, refuses a missing
scope FORBIDDEN/MISSING_SCOPE and sends fields newer than the 2026.9.1 schema, as OpenClaw 2026.9.6 does.
"""

from __future__ import annotations

import gzip
import hashlib

import pytest
import trio

from moltbot.conformance import Options, Target, run_conformance
from moltbot.conformance._shapes import Validating
from moltbot.conformance._spec4 import SchemaUnavailable, load_spec4
from tests.conformance.fake_gateway4 import TOKEN, FakeGateway4

CHECKS = ["handshake.hello_ok", "handshake.negotiate_highest", "handshake.protocol_mismatch",
          "scopes.none_asked_none_granted", "scopes.default_operator_is_admin", "scopes.read_only_operator",
          "session.unknown_method", "session.empty_id_answered_as_invalid", "methods.status", "methods.health"]


async def _run(nursery, faults=(), *, version="2026.9.6", checks=CHECKS, **kwargs):
    fake = await nursery.start(FakeGateway4(frozenset(faults), version).serve)
    with trio.fail_after(60):
        return await run_conformance(Target(fake.url, token=TOKEN), checks=checks,
                                     options=Options(frame_timeout=2), **kwargs)


async def test_default_run_offers_3_to_7_and_checks_at_the_version_the_gateway_picks(nursery):
    report = await _run(nursery)
    assert report.ok, report.table()
    assert report.protocols == (4,) and report.main_protocol == 4
    assert report["handshake.hello_ok[v4]"].status == "pass"
    for version in (3, 7):  # a 4-only gateway: the per-version checks of the others are skipped, not failed
        assert report[f"handshake.hello_ok[v{version}]"].status == "skip"
    assert report.schema == "@openclaw/gateway-protocol@2026.9.1"
    assert "protocol 4 checked against @openclaw/gateway-protocol@2026.9.1" in report.table()


async def test_fields_newer_than_the_schema_are_reported_not_failed(nursery):
    report = await _run(nursery)
    newer = report["handshake.hello_ok[v4]"].newer
    assert "HelloOk at root: controlUiLinkReaders" in newer and "HelloOk at /auth: method" in newer
    as_json = {result["name"]: result for result in report.to_json()["results"]}
    assert "HelloOk at /auth: method" in as_json["handshake.hello_ok[v4]"]["newer"]
    assert "with fields newer than the spec" in report.summary()


async def test_protocol_4_scope_rules_and_forbidden(nursery):
    report = await _run(nursery)
    assert report["scopes.none_asked_none_granted"].status == "pass", report.table()
    assert "refused FORBIDDEN" in report["scopes.none_asked_none_granted"].reason
    assert report["scopes.default_operator_is_admin"].status == "skip"
    assert report["scopes.read_only_operator"].status == "pass"
    assert report["session.unknown_method"].status == "pass"  # explicit admin scopes: "unknown method"
    assert report["handshake.protocol_mismatch"].status == "pass"  # 4's PROTOCOL_MISMATCH details


async def test_forbidden_without_missing_scope_details_fails(nursery):
    report = await _run(nursery, {"forbidden_without_details"}, checks=["scopes.read_only_operator"])
    result = report["scopes.read_only_operator"]
    assert result.status == "fail" and "MISSING_SCOPE" in result.reason, report.table()
    assert result.frame["error"]["code"] == "FORBIDDEN"


async def test_hello_ok_is_validated_against_the_protocol_4_schema(nursery):
    report = await _run(nursery, {"hello_without_auth"}, checks=["handshake.hello_ok"])
    result = report["handshake.hello_ok[v4]"]
    assert result.status == "fail" and "'auth' is a required property" in result.reason, report.table()
    assert result.frame["payload"]["type"] == "hello-ok"


async def test_frames_are_validated_against_the_protocol_4_schema_and_known_bugs_say_so(nursery):
    # The empty-id answer (id "") breaks ResponseFrame.id minLength 1: OpenClaw 2026.9.x's documented bug.
    report = await _run(nursery, checks=["session.empty_id_answered_as_invalid"])
    result = report["session.empty_id_answered_as_invalid"]
    assert result.status == "known" and "ResponseFrame.id minLength 1" in result.known, report.table()
    assert report.ok and "1 known upstream bug" in report.summary()
    # The same frame from a release no entry names is a plain failure.
    other = await _run(nursery, version="2027.1.0", checks=["session.empty_id_answered_as_invalid"])
    assert other["session.empty_id_answered_as_invalid"].status == "fail"
    assert "protocol.schema.json" in other["session.empty_id_answered_as_invalid"].reason


async def test_an_explicit_protocol_choice_is_kept(nursery):
    report = await _run(nursery, checks=["handshake.hello_ok"], protocol_versions=(4,))
    assert [r.name for r in report.results] == ["handshake.hello_ok[v4]"] and report.ok


def test_the_bundled_schema_is_the_shared_reference(openclaw_schema):
    spec = load_spec4()
    assert spec.document == openclaw_schema
    assert spec.methods["config.get"]["scope"] == "read" and spec.methods["node.event"]["scope"] == "node"


def test_bundled_schema_digest_is_recorded():
    from importlib import resources

    raw = gzip.decompress(resources.files("moltbot.conformance").joinpath("openclaw", "protocol.schema.json.gz")
                          .read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    source = resources.files("moltbot.conformance").joinpath("openclaw", "SOURCE.md").read_text()
    assert digest in source and "2026.9.1" in source


def test_a_schema_path_that_is_missing_or_not_the_schema_is_refused_clearly(tmp_path):
    with pytest.raises(SchemaUnavailable, match="cannot read the protocol-4 schema"):
        load_spec4(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"type": "object"}')
    with pytest.raises(SchemaUnavailable, match="not OpenClaw's protocol.schema.json"):
        load_spec4(tmp_path / "other.json")
    (tmp_path / "given.json.gz").write_bytes(gzip.compress(b'{"definitions": {}, "methods": {}}'))
    assert load_spec4(tmp_path / "given.json.gz").version == "given.json.gz (given)"


def test_additions_pass_as_newer_and_mistakes_fail():
    import jsonschema

    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}},
              "additionalProperties": False}
    shapes = Validating(jsonschema.Draft7Validator, "definitions", {}, "http://json-schema.org/draft-07/schema#")
    view = shapes.fresh()
    assert view._problem("x", schema, {"a": 1, "b": 2}, "X") is None
    assert view.newer == ["X at root: b"]
    assert "'a' is a required property" in view._problem("x", schema, {"b": 2})
    assert "is not of type 'integer'" in view._problem("x", schema, {"a": "1", "b": 2})
    assert shapes.newer == []  # each check gets its own view

"""Redacting secrets in config text and trees, and restoring them from the file a client edited."""

import json

import json5
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from moltbot.config.edit import EditError, FileState, merge_patch, prepare_replace, snapshot
from moltbot.config.redact import (
    REDACTED,
    RestoreError,
    collect_secrets,
    is_secret_key,
    redact_text,
    redact_tree,
    restore_text,
    restore_tree,
)
from tests.strategies import examples

TEXT = """{
  // token abcd-secret-1234 was rotated on Monday
  gateway: { auth: { token: 'abcd-secret-1234' } },
  models: { providers: { x: { apiKey: "sk-key-5678", headers: { Authorization: "Bearer hdr-999" } } } },
  channels: { telegram: { botToken: "${TELEGRAM_TOKEN}", tokenFile: "/run/tok", textChunkLimit: 4000 } },
  hooks: { path: "/hooks", mappings: [{ url: "https://x.test/?t=abcd-secret-1234" }] },
}
"""


def test_secret_keys_are_recognised_but_not_their_look_alikes():
    for key in ("token", "botToken", "apiKey", "password", "webhookSecret", "OPENAI_API_KEY", "appToken"):
        assert is_secret_key(key), key
    for key in ("tokenFile", "maxTokens", "contextTokens", "botTokenSource", "port", "enabled"):
        assert not is_secret_key(key), key


def test_redacted_text_hides_values_comments_and_embedded_copies_but_keeps_layout():
    parsed = json5.loads(TEXT)
    redacted = redact_text(TEXT, collect_secrets(parsed))
    for secret in ("abcd-secret-1234", "sk-key-5678", "hdr-999"):
        assert secret not in redacted
    assert f"// token {REDACTED} was rotated on Monday" in redacted
    assert "${TELEGRAM_TOKEN}" in redacted and '"/run/tok"' in redacted  # a variable name is no secret
    assert redacted.count("\n") == TEXT.count("\n")


def test_redacted_tree_matches_the_redacted_text():
    parsed = json5.loads(TEXT)
    secrets = collect_secrets(parsed)
    assert redact_tree(parsed, secrets) == json5.loads(redact_text(TEXT, secrets))


def test_redacted_text_round_trips_to_the_original_file():
    parsed = json5.loads(TEXT)
    secrets = collect_secrets(parsed)
    shown = redact_text(TEXT, secrets)
    incoming = json5.loads(shown)
    restored = restore_tree(incoming, parsed, secrets)
    assert restored == parsed
    text = restore_text(shown, restored, TEXT, secrets)
    assert json5.loads(text) == parsed
    assert "// token abcd-secret-1234 was rotated on Monday" in text


def test_marker_without_a_current_value_names_the_path():
    with pytest.raises(RestoreError) as info:
        restore_tree({"hooks": {"token": REDACTED}}, {"hooks": {}}, set())
    assert info.value.path == "hooks.token"


def test_marker_embedded_in_a_changed_string_is_refused():
    current = {"gateway": {"auth": {"token": "abcd-secret-1234"}}, "u": "https://x/?t=abcd-secret-1234"}
    secrets = collect_secrets(current)
    assert restore_tree({"u": f"https://x/?t={REDACTED}"}, current, secrets)["u"] == current["u"]
    with pytest.raises(RestoreError):
        restore_tree({"u": f"https://y/?t={REDACTED}"}, current, secrets)


def test_merge_patch_follows_rfc_7386():
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1]}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert merge_patch({"a": {"b": 1}}, {"a": [2]}) == {"a": [2]}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_snapshot_of_unparsable_file_still_hides_the_token(tmp_path):
    path = tmp_path / "moltbot.json"
    path.write_text('{ gateway: { auth: { token: "tok-unparsable-77" } }, oops }')
    snap = snapshot(path, {}, tmp_path)
    assert snap["valid"] is False and snap["parsed"] == {} and snap["config"] == {}  # as the original's
    assert snap["issues"][0]["path"] == "" and snap["issues"][0]["message"].startswith("JSON5 parse failed: line 1")
    assert "line" in snap["issues"][0]
    assert "tok-unparsable-77" not in json.dumps(snap)


def test_set_refuses_a_marker_key(tmp_path):
    path = tmp_path / "moltbot.json"
    path.write_text('{gateway: {auth: {token: "secret-token-1"}}}')
    state = FileState(path, path.read_text())
    with pytest.raises(EditError) as info:
        prepare_replace(state, f'{{gateway: {{ "{REDACTED}": 1 }}}}', state.hash, {}, tmp_path)
    assert info.value.details["issues"][0]["path"] == f"gateway.{REDACTED}"


_SECRET = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=30)


@settings(deadline=None, max_examples=examples(30))  # the pure-Python JSON5 parser is slow
@given(token=_SECRET, key=_SECRET)
def test_any_secret_is_hidden_and_restored_exactly(token, key):
    template = '{\n  // keep me\n  gateway: { auth: { token: %s } },\n  models: { providers: { p: { apiKey: %s } } },\n}\n'
    assume(REDACTED not in token + key and token not in template and key not in template)
    assume(token not in key and key not in token)
    text = template % (json.dumps(token), json.dumps(key))
    parsed = json5.loads(text)
    secrets = collect_secrets(parsed)
    shown = redact_text(text, secrets)
    assert token not in shown and key not in shown
    restored = restore_tree(json5.loads(shown), parsed, secrets)
    assert restored == parsed
    back = restore_text(shown, restored, text, secrets)
    assert back is not None and json5.loads(back) == parsed and "// keep me" in back

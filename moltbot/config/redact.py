"""Secrets in the config: hide them in what clients see, put them back when a client writes the file.

Theory of operation. A value is secret when its key looks like one (``token``, ``password``, ``secret``,
``apiKey``, ``botToken`` …, but not ``tokenFile`` or ``maxTokens``) or it is an HTTP header value; a
value that is only a ``${VAR}`` reference is not a secret (the UI may show which variable it reads).
Redaction replaces each secret with ``REDACTED`` in the parsed tree and in the file's text; in the text
only the value tokens are rewritten (and secrets in comments), so the text shown keeps its comments.
Any other string that happens to contain a secret has that part replaced too.

Restoring goes the other way, by path: where an incoming value is (or contains) ``REDACTED``, the value
at the same path in the current file is put back, provided the current value redacts to exactly the
incoming one; otherwise the path is named in an error. In the text, each value token holding the marker
is rewritten with the restored value and each comment equal to a redacted comment of the current file
gets its original back; the result is parsed again and must equal the restored tree, else the caller
writes the tree as plain JSON instead.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import json5

from ..protocol import escape_surrogates, join_surrogate_pairs
from .load import parse_json5
from .positions import Scan, Segment, dotted, scan

REDACTED = "__MOLTBOT_REDACTED__"

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|apikey|privatekey|passphrase|authorization|cookie)")
_NOT_SECRET_KEY = re.compile(r"(file|path|dir|source|mode|tokens|ms|seconds|count|limit|policy|env|type|url)$")
_ENV_REF = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_]*\})+$")
_MIN_LITERAL = 4  # shorter secrets are not searched for inside other text (too many false hits)


class RestoreError(ValueError):
    """A redaction marker stands where the current file has no value it could stand for."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: {REDACTED} has no current value to keep (send the real value)")


def is_secret_key(key: Segment | None, parent: Segment | None = None) -> bool:
    if isinstance(parent, str) and parent.lower() == "headers":
        return True
    if not isinstance(key, str):
        return False
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    return bool(_SECRET_KEY.search(name)) and not _NOT_SECRET_KEY.search(name)


def is_secret_path(path: tuple[Segment, ...]) -> bool:
    if not path:
        return False
    key, parent = path[-1], path[-2] if len(path) > 1 else None
    if isinstance(key, int):  # an item of a secret list (``apiKeys: [...]``)
        return is_secret_key(parent, path[-3] if len(path) > 2 else None)
    return is_secret_key(key, parent)


def _secret_text(value: Any) -> str | None:
    """The text of a scalar that counts as a secret, or None (empty, marker, env reference, non-scalar)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value)
    if not text or REDACTED in text or _ENV_REF.match(text):
        return None
    return text


def collect_secrets(tree: Any, path: tuple[Segment, ...] = (), out: set[str] | None = None) -> set[str]:
    """Every secret value in a parsed tree."""
    out = set() if out is None else out
    if isinstance(tree, dict):
        for key, item in tree.items():
            collect_secrets(item, (*path, key), out)
    elif isinstance(tree, list):
        for index, item in enumerate(tree):
            collect_secrets(item, (*path, index), out)
    elif is_secret_path(path) and (text := _secret_text(tree)) is not None:
        out.add(text)
    return out


def redact_string(value: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_LITERAL or value == secret:
            value = value.replace(secret, REDACTED)
    return value


def redact_tree(tree: Any, secrets: set[str], path: tuple[Segment, ...] = ()) -> Any:
    """A copy of ``tree`` with secrets replaced by ``REDACTED``."""
    if isinstance(tree, dict):
        return {key: redact_tree(item, secrets, (*path, key)) for key, item in tree.items()}
    if isinstance(tree, list):
        return [redact_tree(item, secrets, (*path, index)) for index, item in enumerate(tree)]
    if is_secret_path(path) and _secret_text(tree) is not None:
        return REDACTED
    if isinstance(tree, str):
        return redact_string(tree, secrets)
    return tree


def _decode(token_text: str, kind: str) -> Any:
    if kind == "string":
        if token_text[0] == '"':
            try:
                return json.loads(token_text)
            except ValueError:
                pass  # a JSON5-only escape: the slow parser knows it
        try:
            return json5.loads(token_text)
        except ValueError:
            return token_text[1:-1]
    return token_text


def text_secrets(found: Scan) -> set[str]:
    """Secrets visible in the text's value tokens (works on text that does not parse)."""
    out: set[str] = set()
    for path, token in found.values:
        if is_secret_path(path) and (text := _secret_text(_decode(token.text, token.kind))) is not None:
            out.add(text)
    return out


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def redact_text(text: str, secrets: set[str]) -> str:
    """``text`` with secret value tokens and secrets inside strings and comments replaced by the marker."""
    found = scan(text)
    secrets = secrets | text_secrets(found)
    edits: list[tuple[int, int, str]] = []
    for path, token in found.values:
        value = _decode(token.text, token.kind)
        if is_secret_path(path) and _secret_text(value) is not None:
            edits.append((token.start, token.end, json.dumps(REDACTED)))
        elif isinstance(value, str) and token.kind == "string" and redact_string(value, secrets) != value:
            edits.append((token.start, token.end, _literal(redact_string(value, secrets))))
    for token in found.comments:
        if (redacted := redact_string(token.text, secrets)) != token.text:
            edits.append((token.start, token.end, redacted))
    result = _splice(text, edits)
    for secret in secrets:  # last resort for forms the scanner did not see (escapes, keys): never leak
        if len(secret) >= _MIN_LITERAL and secret in result:
            result = result.replace(secret, REDACTED)
    return result


# --- restore -----------------------------------------------------------------------------------------

_MISSING = object()


def _at(tree: Any, path: tuple[Segment, ...]) -> Any:
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(tree, list) or segment >= len(tree):
                return _MISSING
        elif not isinstance(tree, dict) or segment not in tree:
            return _MISSING
        tree = tree[segment]
    return tree


def restore_tree(incoming: Any, current: Any, secrets: set[str], path: tuple[Segment, ...] = ()) -> Any:
    """``incoming`` with each value holding the marker replaced by the current file's value at that path.

    Raises:
        RestoreError: a marker where the current value is missing or does not redact to the incoming one.
    """
    if isinstance(incoming, dict):
        for key in incoming:
            if REDACTED in key:  # a secret that was also a key name: never write the marker as a key
                raise RestoreError(dotted((*path, key)))
        return {key: restore_tree(item, current, secrets, (*path, key)) for key, item in incoming.items()}
    if isinstance(incoming, list):
        return [restore_tree(item, current, secrets, (*path, index)) for index, item in enumerate(incoming)]
    if not isinstance(incoming, str) or REDACTED not in incoming:
        return incoming
    value = _at(current, path)
    if value is _MISSING or value is None or isinstance(value, (dict, list)):
        raise RestoreError(dotted(path) or "<root>")
    if incoming == REDACTED and is_secret_path(path) and _secret_text(value) is not None:
        return value
    if isinstance(value, str) and redact_string(value, secrets) == incoming:
        return value
    raise RestoreError(dotted(path) or "<root>")


def _literal(value: Any) -> str:
    """A value as JSON text for splicing into the file; surrogates (a JSON5 parser may decode an escaped
    pair as two) are written back as the escapes they came from."""
    text = json.dumps(value, ensure_ascii=False)
    return json.dumps(value) if escape_surrogates(text) is not text else text


def restore_text(text: str, restored: Any, current_text: str, secrets: set[str]) -> str | None:
    """``text`` with the marker replaced in place by the restored values (comments kept).

    Returns None when the spliced text does not parse back to ``restored`` (the caller then writes JSON).
    """
    found = scan(text)
    edits: list[tuple[int, int, str]] = []
    for path, token in found.values:
        if REDACTED not in token.text:
            continue
        value = _at(restored, path)
        if value is _MISSING:
            return None
        edits.append((token.start, token.end, _literal(value)))
    originals = {redact_string(token.text, secrets): token.text for token in scan(current_text).comments}
    for token in found.comments:
        if REDACTED in token.text and token.text in originals:
            edits.append((token.start, token.end, originals[token.text]))
    result = _splice(text, edits)
    try:
        parsed = parse_json5(result)
    except ValueError:
        return None
    return result if _same(parsed, restored) else None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str):  # a pair decoded as two surrogates is still one character
        return join_surrogate_pairs(a) == join_surrogate_pairs(b)
    return a == b and type(a) is type(b)


def redacted_copy(tree: Any) -> Any:
    """A redacted deep copy of a parsed config (for tools that show the config)."""
    return redact_tree(copy.deepcopy(tree), collect_secrets(tree))

"""Parse the common JSON5 of hand-written config files with the C JSON parser.

The pure-Python ``json5`` parser needs ~50 ms per KB, paid on every reload, restart, ``config.get`` and
``config.set``. Hand-written configs mostly use four JSON5 features: comments, unquoted keys, trailing
commas and single-quoted strings. ``to_json`` rewrites exactly those, token by token, into JSON for
``json.loads``; on anything else (hex or ``+`` numbers, JSON5-only escapes, unicode identifiers, text the
scanner cannot follow) it returns ``None`` and the caller uses the ``json5`` parser, which also gives the
error messages. Duplicate keys behave the same (the last wins) in both.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .positions import _TOKEN

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_LITERALS = frozenset({"true", "false", "null", "Infinity", "-Infinity", "NaN"})
_SIMPLE_SINGLE = re.compile(r"'(?:[^'\\\n\r\u2028\u2029]|\\[\\'\"/bfnrt]|\\u[0-9A-Fa-f]{4})*'\Z")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _single_quoted(token: str) -> str | None:
    if not _SIMPLE_SINGLE.match(token):
        return None
    body = re.sub(r"\\u([0-9A-Fa-f]{4})|\\(.)",
                  lambda m: chr(int(m.group(1), 16)) if m.group(1) else _ESCAPES[m.group(2)], token[1:-1])
    return json.dumps(body, ensure_ascii=False)


def to_json(text: str) -> str | None:
    """``text`` rewritten as JSON, or ``None`` when it uses JSON5 this rewrite does not cover."""
    parts: list[str] = []
    tokens: list[tuple[str, str]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:  # a character no token covers (an unterminated string …)
            return None
        position = match.end()
        if match.lastgroup not in ("ws", "line_comment", "block_comment"):
            tokens.append((match.lastgroup or "", match.group()))
    if position != len(text):
        return None
    for index, (kind, value) in enumerate(tokens):
        if kind == "punct":
            if value == "," and index + 1 < len(tokens) and tokens[index + 1][1] in ("}", "]"):
                continue  # trailing comma
            parts.append(value)
        elif kind == "string":
            if value[0] == "'":
                converted = _single_quoted(value)
                if converted is None:
                    return None
                parts.append(converted)
            else:
                parts.append(value)  # JSON-only escapes are checked by json.loads; JSON5-only ones fail it
        else:
            is_key = index + 1 < len(tokens) and tokens[index + 1][1] == ":"
            if is_key and _IDENTIFIER.match(value):
                parts.append(f'"{value}"')
            elif not is_key and (value in _LITERALS or _JSON_NUMBER.match(value)):
                parts.append(value)
            else:
                return None
    return " ".join(parts)


def loads(text: str) -> Any:
    """Parse JSON5 text: through JSON when the rewrite covers it, else with the ``json5`` parser."""
    import json5

    converted = to_json(text)
    if converted is not None:
        try:
            return json.loads(converted)
        except ValueError:
            pass  # not valid after all: let the real parser decide (and word the error)
    return json5.loads(text)

"""Line numbers of keys in JSON5 text, so config errors can say where a problem is.

A small tolerant scanner (strings, comments, identifiers, numbers, brackets): it maps each dotted path
(``gateway.auth.token``, ``agents.list[0].id``) to the line its key or array item starts on. It never
raises; on text it cannot follow it returns what it found so far.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<line_comment>//[^\n]*)|(?P<block_comment>/\*.*?\*/)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<punct>[{}\[\]:,])|(?P<word>[^\s{}\[\]:,"'/]+|/)""",
    re.S | re.X,
)


def _tokens(text: str):
    line = 1
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind not in ("ws", "line_comment", "block_comment"):
            yield kind, value, line
        line += value.count("\n")


def _unquote(value: str) -> str:
    if value[:1] in "\"'":
        body = value[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return value


def key_lines(text: str) -> dict[str, int]:
    """Map dotted paths to 1-based line numbers."""
    tokens = list(_tokens(text))
    lines: dict[str, int] = {}
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else (None, None, 0)

    def value(path: str) -> None:
        nonlocal position
        kind, text_, line = peek()
        if text_ == "{":
            position += 1
            while position < len(tokens) and peek()[1] != "}":
                kind, key, key_line = peek()
                if kind not in ("string", "word"):
                    position += 1
                    continue
                position += 1
                name = _unquote(key)
                child = f"{path}.{name}" if path else name
                lines.setdefault(child, key_line)
                if peek()[1] == ":":
                    position += 1
                    value(child)
                if peek()[1] == ",":
                    position += 1
            position += 1
        elif text_ == "[":
            position += 1
            index = 0
            while position < len(tokens) and peek()[1] != "]":
                if peek()[1] == ",":
                    position += 1
                    continue
                child = f"{path}[{index}]"
                lines.setdefault(child, peek()[2])
                value(child)
                index += 1
            position += 1
        else:
            position += 1

    try:
        value("")
    except RecursionError:
        pass
    return lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path`` or of its nearest parent that has one."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None

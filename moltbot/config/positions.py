"""Where things are in JSON5 text: the line of each key, and the span of each scalar value and comment.

A small tolerant scanner (strings, comments, identifiers, numbers, brackets) walks the text once. It maps
each dotted path (``gateway.auth.token``, ``agents.list[0].id``) to the line its key or array item starts
on, so config errors can say where a problem is; and it records where each scalar value and each comment
sits, so secrets can be redacted in the text and restored in place without losing the comments. It never
raises; on text it cannot follow it returns what it found so far.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs

_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<line_comment>//[^\n]*)|(?P<block_comment>/\*.*?\*/)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<punct>[{}\[\]:,])|(?P<word>[^\s{}\[\]:,"'/]+|/)""",
    re.S | re.X,
)

Segment = str | int


@attrs.frozen
class Token:
    kind: str
    text: str
    line: int
    start: int
    end: int


@attrs.frozen
class Scan:
    """What ``scan`` found: key lines by dotted path, scalar values with their path, and comments."""

    lines: dict[str, int]
    values: list[tuple[tuple[Segment, ...], Token]]
    comments: list[Token]


def dotted(segments: tuple[Segment, ...]) -> str:
    """``("agents", "list", 0, "id")`` → ``agents.list[0].id``."""
    out = ""
    for segment in segments:
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else segment)
    return out


def _tokens(text: str, comments: list[Token]) -> Iterator[Token]:
    line = 1
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        token = Token(kind or "", value, line, match.start(), match.end())
        if kind in ("line_comment", "block_comment"):
            comments.append(token)
        elif kind != "ws":
            yield token
        line += value.count("\n")


def _unquote(value: str) -> str:
    if value[:1] in "\"'":
        body = value[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return value


def scan(text: str) -> Scan:
    """Walk ``text`` once (tolerantly) and report keys, scalar values and comments."""
    comments: list[Token] = []
    tokens = list(_tokens(text, comments))
    lines: dict[str, int] = {}
    values: list[tuple[tuple[Segment, ...], Token]] = []
    end = Token("", "", 0, len(text), len(text))
    position = 0

    def peek() -> Token:
        return tokens[position] if position < len(tokens) else end

    def value(path: tuple[Segment, ...]) -> None:
        nonlocal position
        token = peek()
        if token.text == "{":
            position += 1
            while position < len(tokens) and peek().text != "}":
                key = peek()
                if key.kind not in ("string", "word"):
                    position += 1
                    continue
                position += 1
                child = (*path, _unquote(key.text))
                lines.setdefault(dotted(child), key.line)
                if peek().text == ":":
                    position += 1
                    value(child)
                if peek().text == ",":
                    position += 1
            position += 1
        elif token.text == "[":
            position += 1
            index = 0
            while position < len(tokens) and peek().text != "]":
                if peek().text == ",":
                    position += 1
                    continue
                child = (*path, index)
                lines.setdefault(dotted(child), peek().line)
                value(child)
                index += 1
            position += 1
        else:
            if token.kind in ("string", "word"):
                values.append((path, token))
            position += 1

    try:
        value(())
    except RecursionError:
        pass
    return Scan(lines, values, comments)


def key_lines(text: str) -> dict[str, int]:
    """Map dotted paths to 1-based line numbers."""
    return scan(text).lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path`` or of its nearest parent that has one."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None

"""Set or remove one value in JSON5 text in place, so the file's comments and layout stay as they were.

Why: ``moltbot config set|unset`` edits a file people write by hand, with comments. The tokenizer of
``positions.py`` is walked once to find the span of every value and of every object member (key to value);
an edit then splices that span only. Cases it does not handle (an array item removed, text it cannot
follow) return ``None``, and the caller writes the whole tree as JSON instead (saying the comments were not
kept). Every splice is checked by the caller: the new text must parse to the intended tree.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .positions import Segment, Token, _tokens, _unquote

MISSING = object()


@attrs.frozen
class Spans:
    """Where each value is (``values``: path → (start, end)), each object member (``members``: path →
    (key start, value end)), and each object's closing brace with the end of its last token before it
    (``closers``: path → (last token end, brace start, has members))."""

    values: dict[tuple[Segment, ...], tuple[int, int]]
    members: dict[tuple[Segment, ...], tuple[int, int]]
    closers: dict[tuple[Segment, ...], tuple[int, int, bool]]


def spans(text: str) -> Spans | None:
    tokens: list[Token] = list(_tokens(text, []))
    values: dict[tuple[Segment, ...], tuple[int, int]] = {}
    members: dict[tuple[Segment, ...], tuple[int, int]] = {}
    closers: dict[tuple[Segment, ...], tuple[int, int, bool]] = {}
    position = 0

    def value(path: tuple[Segment, ...]) -> None:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("unexpected end")
        start = tokens[position].start
        if tokens[position].text == "{":
            position += 1
            count = 0
            while tokens[position].text != "}":
                key = tokens[position]
                if key.kind not in ("string", "word") or tokens[position + 1].text != ":":
                    raise ValueError("unexpected token")
                position += 2
                child = (*path, _unquote(key.text))
                value(child)
                members[child] = (key.start, tokens[position - 1].end)
                count += 1
                if tokens[position].text == ",":
                    position += 1
            closers[path] = (tokens[position - 1].end, tokens[position].start, count > 0)
        elif tokens[position].text == "[":
            position += 1
            index = 0
            while tokens[position].text != "]":
                value((*path, index))
                index += 1
                if tokens[position].text == ",":
                    position += 1
        values[path] = (start, tokens[position].end)
        position += 1

    try:
        value(())
    except (ValueError, IndexError, RecursionError):
        return None
    return Spans(values, members, closers)


def literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _indent_at(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start:offset]
    return line[: len(line) - len(line.lstrip())]


def _nested(segments: tuple[Segment, ...], value: Any) -> Any:
    for segment in reversed(segments):
        value = {segment: value}
    return value


def set_in_text(text: str, path: tuple[Segment, ...], value: Any) -> str | None:
    """``text`` with ``path`` set to ``value``: an existing value's span replaced, or a member added to the
    deepest existing object on the path (missing objects below it made as one nested value)."""
    found = spans(text)
    if found is None:
        return None
    if path in found.values:
        start, end = found.values[path]
        return text[:start] + literal(value) + text[end:]
    for depth in range(len(path) - 1, -1, -1):
        parent = path[:depth]
        if parent in found.closers:
            break
        if parent in found.values:  # an array or a scalar on the way: not an object to add to
            return None
    else:
        return None
    if any(isinstance(segment, int) for segment in path[depth:]):
        return None
    last_end, brace, has_members = found.closers[parent]
    member_text = f"{literal(path[depth])}: {literal(_nested(path[depth + 1:], value))}"
    if has_members:
        trailing_comma = text[last_end - 1] == ","
        indent = _indent_at(text, found.members[_last_member(found, parent)][0])
        insert = ("" if trailing_comma else ",") + "\n" + indent + member_text + ("," if trailing_comma else "")
        return text[:last_end] + insert + text[last_end:]
    indent = _indent_at(text, brace)
    return text[:last_end] + "\n" + indent + "  " + member_text + "\n" + indent + text[brace:]


def _last_member(found: Spans, parent: tuple[Segment, ...]) -> tuple[Segment, ...]:
    children = [path for path in found.members if path[:-1] == parent and len(path) == len(parent) + 1]
    return max(children, key=lambda path: found.members[path][0])


def unset_in_text(text: str, path: tuple[Segment, ...]) -> str | None:
    """``text`` without the member at ``path`` (its line too when it was alone on it), else ``None``."""
    found = spans(text)
    if found is None or path not in found.members:
        return None
    start, end = found.members[path]
    rest = text[end:]
    stripped = rest.lstrip(" \t")
    if stripped.startswith(","):
        end += len(rest) - len(stripped) + 1
    else:  # the last member: drop the comma before it, if any
        before = text[:start].rstrip()
        if before.endswith(","):
            start = len(before) - 1
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    tail = text[end:line_end if line_end >= 0 else len(text)]
    if tail.strip().startswith("//") and not text[line_start:start].strip():  # its own trailing comment
        end += len(tail)
    if not text[line_start:start].strip() and not text[end:line_end if line_end >= 0 else len(text)].strip():
        start, end = line_start, (line_end + 1 if line_end >= 0 else len(text))
    return text[:start] + text[end:]


def parse_path(path: str) -> tuple[Segment, ...]:
    """``agents.list[0].id`` → ``("agents", "list", 0, "id")``; raises ``ValueError`` on an empty segment."""
    segments: list[Segment] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if not name and not segments:
            raise ValueError(f"invalid path {path!r}: empty key")
        if name:
            segments.append(name)
        elif not rest:
            raise ValueError(f"invalid path {path!r}: empty key")
        while rest:
            index, close, rest = rest.partition("]")
            if not close or not index.isdigit() or (rest and not rest.startswith("[")):
                raise ValueError(f"invalid path {path!r}: bad index")
            segments.append(int(index))
            rest = rest[1:]
    return tuple(segments)


def get_in(tree: Any, path: tuple[Segment, ...]) -> Any:
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(tree, list) or segment >= len(tree):
                return MISSING
        elif not isinstance(tree, dict) or segment not in tree:
            return MISSING
        tree = tree[segment]
    return tree


def set_in_tree(tree: dict[str, Any], path: tuple[Segment, ...], value: Any) -> dict[str, Any]:
    """A copy of ``tree`` with ``path`` set (missing objects made). Raises ``ValueError`` when a value on the
    way is not an object (or an array index is out of range)."""
    if not path:
        raise ValueError("an empty path")
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        raise ValueError("an index at the root")
    result = dict(tree)
    child = result.get(head, MISSING)
    if not rest:
        result[head] = value
    elif isinstance(rest[0], int):
        if not isinstance(child, list) or rest[0] > len(child) - (0 if len(rest) == 1 else 1):
            raise ValueError(f"{head} has no item {rest[0]}")
        items = list(child)
        if len(rest) == 1:
            items[rest[0]:rest[0] + 1] = [value]
        else:
            if not isinstance(items[rest[0]], dict):
                raise ValueError(f"{head}[{rest[0]}] is not an object")
            items[rest[0]] = set_in_tree(items[rest[0]], rest[1:], value)
        result[head] = items
    elif child is MISSING:
        result[head] = set_in_tree({}, rest, value)
    elif isinstance(child, dict):
        result[head] = set_in_tree(child, rest, value)
    else:
        raise ValueError(f"{head} is not an object")
    return result


def unset_in_tree(tree: Any, path: tuple[Segment, ...]) -> Any:
    """A copy of ``tree`` without ``path`` (an array item is removed, the later ones move up)."""
    head, rest = path[0], path[1:]
    if isinstance(tree, list) and isinstance(head, int):
        items = list(tree)
        items[head:head + 1] = [] if not rest else [unset_in_tree(items[head], rest)]
        return items
    result = dict(tree)
    if not rest:
        result.pop(head, None)
    else:
        result[head] = unset_in_tree(result[head], rest)
    return result

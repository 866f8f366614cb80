"""JSON text in: ``json.loads`` with the limits a peer must not push us past.

Python's parser recurses (a 100,000-deep array raises ``RecursionError``) and refuses integers of more
than 4300 digits (``ValueError``). Both are valid JSON, and a request that holds one must still be
answered with its own ``id``, so neither may look like "not JSON", nor may the exception text reach
the peer. Rules:

Rule 1. Text that does not parse (syntax, encoding; ``NaN`` and ``Infinity``, which Python's parser would
        take and ``JSON.parse`` does not) raises ``RemoteProtocolError("invalid JSON")``.
Rule 2. Nesting deeper than ``MAX_DEPTH`` levels, an integer of more than ``MAX_INT_DIGITS`` digits, or a
        number too large for a double (``1e999``: Python would read ``inf``, which no encoder may write
        back as JSON; ``JSON.parse`` reads ``Infinity``, which ``JSON.stringify`` writes as ``null``),
        raises ``JsonLimitError``, whose ``members`` are the top-level scalar members that could be read
        (``type``, ``id``, ``method``: enough to answer the request). When the parser itself gave up, the
        members are read one by one up to the offending one: an ``id`` written before ``params`` (as
        every client writes it) is found, one written after is not.
The range check is a ``parse_float`` hook, a Python call per number with a fraction or exponent only
(integers never overflow: they are limited by digits): measured, +0 ms on a typical 450 KB frame and
+10 ms on the worst case, 512 KiB of nothing but ``0.0`` (7 → 17 ms). The depth check runs only on text that could be that deep (more opening brackets than the limit), and
walks the parsed value one level at a time with C-level iteration, so it costs a fraction of the parse.
"""

from __future__ import annotations

import gc
import json
import re
import sys
from collections.abc import Iterable, Iterator
from itertools import chain, compress, repeat
from json.decoder import scanstring  # type: ignore[attr-defined]  # public, not in typeshed
from operator import is_
from typing import Any

from ._errors import INVALID_REQUEST, RemoteProtocolError

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "JsonLimitError", "parse_json"]

# Deep enough for any real payload (config trees, accessibility snapshots), shallow enough that no
# later ``json.dumps`` or recursive walk of the value can hit Python's recursion limit (1000).
MAX_DEPTH = 128
MAX_INT_DIGITS = sys.int_info.default_max_str_digits  # 4300: what int() itself accepts
_CONTAINERS = frozenset((dict, list))
_SCALARS = (str, int, float, bool, type(None))
_MAX_MEMBERS = 16
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class JsonLimitError(RemoteProtocolError):
    """Valid JSON beyond one of our limits; ``members`` holds the top-level scalar members read."""

    def __init__(self, message: str, members: dict[str, Any]) -> None:
        super().__init__(INVALID_REQUEST, message)
        self.members = members


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)`` within the limits above.

    Raises:
        JsonLimitError: too deep, an integer too long or a number out of range (Rule 2).
        RemoteProtocolError: ``"invalid JSON"`` (Rule 1).
    """
    if len(text) <= _PAUSE_GC_ABOVE or not gc.isenabled():
        return _parse(text)
    # A large frame allocates up to one container per 3 bytes; each few hundred of them trigger a cyclic
    # GC pass, and now and then a pass over the whole heap (measured: 120 ms for a 512 KiB frame of
    # [0]s in a running gateway, of which the parse itself is 30 ms). JSON values are trees, so no pass
    # during the parse can free anything: the collector waits until it is done.
    gc.disable()
    try:
        return _parse(text)
    finally:
        gc.enable()


_PAUSE_GC_ABOVE = 65536


def _parse(text: str | bytes) -> Any:
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RemoteProtocolError(INVALID_REQUEST, "invalid JSON") from None
    except _OutOfRange:
        raise JsonLimitError(_OUT_OF_RANGE, _leading_members(text)) from None
    except RecursionError:
        raise JsonLimitError(_TOO_DEEP, _leading_members(text)) from None
    except ValueError as exc:  # int()'s digit limit, or a NaN/Infinity literal
        if "digits" not in str(exc):
            raise RemoteProtocolError(INVALID_REQUEST, "invalid JSON") from None
        raise JsonLimitError(_TOO_LONG, _leading_members(text)) from None
    if _could_be_deeper(text) and _deeper_than(value, MAX_DEPTH):
        members = {k: v for k, v in value.items() if isinstance(v, _SCALARS)} if type(value) is dict else {}
        raise JsonLimitError(_TOO_DEEP, members)
    return value


_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels"
_TOO_LONG = f"integer of more than {MAX_INT_DIGITS} digits"
_OUT_OF_RANGE = "number out of range"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's parser takes NaN and Infinity; JSON.parse does not


class _OutOfRange(ValueError):
    """A number literal beyond the largest double."""


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value - value:  # inf - inf is nan (true); any finite value gives 0.0
        raise _OutOfRange(literal[:32])
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _could_be_deeper(text: str | bytes) -> bool:
    if len(text) <= 2 * MAX_DEPTH:
        return False
    opening = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    return text.count(opening[0]) + text.count(opening[1]) > MAX_DEPTH  # type: ignore[arg-type]


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers, found level by level (no recursion, no
    Python-level loop over the items of a level)."""
    level = [value] if value else []  # empty containers (scalars too) have no level below them
    for depth in range(1, limit + 1):
        items = list(chain.from_iterable(_children(level)))
        containers = list(compress(items, map(_CONTAINERS.__contains__, map(type, items))))
        if containers and depth == limit:
            return True
        level = list(filter(None, containers))
        if not level:
            return False
    return True


def _children(level: list[Any]) -> Iterator[Iterable[Any]]:
    """The items of each list and the values of each dict in ``level``, all lists first (one
    ``compress`` pass per kind; none when the level holds one kind, as most do)."""
    kinds = list(map(type, level))
    only = set(kinds)
    if only == _LIST:
        return iter(level)
    if only == _DICT:
        return map(dict.values, level)
    lists = compress(level, map(is_, kinds, repeat(list)))
    dicts = compress(level, map(is_, kinds, repeat(dict)))
    return chain(lists, map(dict.values, dicts))


_LIST, _DICT = {list}, {dict}


def _leading_members(text: str | bytes) -> dict[str, Any]:
    """The top-level object's scalar members up to the first that does not parse (at most 16)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return {}
    members: dict[str, Any] = {}
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        return members
    pos += 1
    while len(members) < _MAX_MEMBERS:
        pos = _skip(text, pos)
        if not text.startswith('"', pos):
            break
        try:
            key, pos = scanstring(text, pos + 1)
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                break
            value, pos = _DECODER.raw_decode(text, _skip(text, pos + 1))
        except (ValueError, RecursionError):
            break
        if isinstance(value, _SCALARS):
            members[key] = value
        pos = _skip(text, pos)
        if not text.startswith(",", pos):
            break
        pos += 1
    return members


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos

"""Structuring failures as the short text a client reads: ``at /client/id: must be one of …``.

The summary is bounded whatever the input: a peer can send 100,000 bad items or 100,000 unexpected keys
in one frame (every one of them a problem), so
- the converter's hooks stop collecting after ``MAX_PROBLEMS`` problems per list or object (``_codec``),
- the summary names at most ``MAX_PROBLEMS`` of them and says when there were more,
- every peer-chosen name (a key, an unexpected property) is cut to ``MAX_NAME`` characters, every part
  to ``MAX_PART`` and the whole to ``MAX_SUMMARY``, so an error ``res`` stays well under 1 KiB.
"""

from __future__ import annotations

import heapq

from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from .._util import camel  # the one snake_case → camelCase mapping, shared with moltbot.config

__all__ = ["MAX_PROBLEMS", "camel", "clip", "format_validation_error"]

MAX_PROBLEMS = 5
MAX_NAME = 40
MAX_PART = 240
MAX_SUMMARY = 800
_MORE = "; …"


def clip(text: str, limit: int = MAX_NAME) -> str:
    """``text`` cut to ``limit`` characters, with ``…`` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path_from_notes(exc: BaseException) -> list[str]:
    parts = []
    for note in getattr(exc, "__notes__", []):
        if isinstance(note, AttributeValidationNote):
            parts.append(camel(note.name))
        elif isinstance(note, IterableValidationNote):
            parts.append(clip(str(note.index)))
    return parts


def _where(path: list[str]) -> str:
    return "/" + "/".join(path) if path else "root"


def _collect(exc: BaseException, path: list[str], out: dict[str, None]) -> None:
    """Add the problems under ``exc`` to ``out`` (distinct, in order) until it holds one more than
    ``MAX_PROBLEMS`` (enough to know the summary is cut)."""
    if len(out) > MAX_PROBLEMS:
        return
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in heapq.nsmallest(MAX_PROBLEMS + 1, map(str, exc.extra_fields)):
            out[f"at {_where(path)}: unexpected property '{clip(key)}'"] = None
        return
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        for sub in exc.exceptions:
            _collect(sub, path + _path_from_notes(sub), out)
        return
    if isinstance(exc, KeyError) and path:  # Ajv's wording, at the object that lacks the property
        parent, key = path[:-1], path[-1]
        part = (f"at {_where(parent)}: must have required property '{key}'" if parent
                else f"must have required property '{key}'")
    elif isinstance(exc, KeyError):
        part = "at root: must be present"
    elif isinstance(exc, (TypeError, ValueError)):
        part = f"at {_where(path)}: {exc}"
    else:
        part = f"at {_where(path)}: invalid value"
    out[clip(part, MAX_PART)] = None


def format_validation_error(exc: BaseException) -> str:
    """Summarise a structuring failure as ``at <path>: <problem>`` parts joined by ``"; "``, at most
    ``MAX_PROBLEMS`` of them and ``MAX_SUMMARY`` characters, ending in ``; …`` when some were left out."""
    found: dict[str, None] = {}
    _collect(exc, [], found)
    parts = list(found)
    shown: list[str] = []
    size = 0
    for part in parts[:MAX_PROBLEMS]:
        if shown and size + len(part) + 2 > MAX_SUMMARY:
            break
        shown.append(part)
        size += len(part) + 2
    summary = "; ".join(shown) or "invalid value"
    return summary + _MORE if len(shown) < len(parts) else summary

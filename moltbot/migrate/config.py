"""The part of another install's config file that this gateway understands.

Both OpenClaw's ``openclaw.json`` and January's ``clawdbot.json`` are JSON5 with ``$include``; most keys are
shared, many are not. The import keeps every key our loader accepts, and lists each one it leaves out:
keys unknown here (our loader would keep and ignore them) and keys whose values we would refuse (an
OpenClaw ``SecretRef`` object where we take a string, a bind mode we lack). ``$include`` files are merged
into the imported file (they are relative to the source folder); ``${VAR}`` references stay as they are
and are substituted when our gateway loads the file.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from ..config.load import ConfigError, parse_config, parse_json5, resolve_includes
from .plan import MAX_JSON_BYTES, MigrateError, relative

_PROBLEM = re.compile(r"^(?P<path>[^ ]+?)(?: \(line \d+\))?: (?P<message>.*)$", re.S)
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_GOT = re.compile(r" \(got [^)]*\)?.*$", re.S)
MAX_ROUNDS = 50  # parse → remove → parse again; each round removes at least one key


def read_source_config(path: Path, source: Path) -> dict[str, Any]:
    """The source's config file, parsed, with includes merged. Raises ``MigrateError``."""
    name = relative(path, source)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise MigrateError(f"{name} is larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB")
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (
            "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or "unreadable"
        )
        raise MigrateError(f"{name} cannot be read: {reason}") from None
    try:
        raw = parse_json5(text)
    except ValueError:
        raise MigrateError(f"{name} is not valid JSON5") from None
    if not isinstance(raw, dict):
        raise MigrateError(f"{name} is not a JSON object")
    merged, problems = resolve_includes(raw, path.parent)
    if problems:
        raise MigrateError(
            f"{name}: its $include cannot be resolved ({len(problems)} problem(s)): "
            + "; ".join(problem.replace(str(source), "<source>") for problem in problems[:3])
        )
    return merged


def importable(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``raw`` without the keys our loader does not know or refuses; and one line per key left out."""
    kept = copy.deepcopy(raw)
    left_out: list[str] = []
    for _ in range(MAX_ROUNDS):
        try:
            config = parse_config(kept)
        except ConfigError as exc:
            found = [(_path_of(problem), _message_of(problem)) for problem in exc.problems]
        else:
            found = [(_path_of(w), "unknown here") for w in config.warnings]
        removed = False
        for path, message in found:
            if path and _remove(kept, path):
                left_out.append(f"{path}: {message}")
                removed = True
        if not found:
            _prune_emptied(kept, raw)
            return kept, left_out
        if not removed:  # a problem we cannot pin to one key (a cross-key rule): leave its whole section out
            section = (found[0][0] or "").split(".")[0].split("[")[0]
            if section in kept:
                del kept[section]
                left_out.append(f"{section}: {found[0][1]} (the whole section)")
                continue
            raise MigrateError("the config cannot be made valid for moltbot: " + found[0][1])
    raise MigrateError("the config has too many keys moltbot refuses")


def _prune_emptied(kept: dict[str, Any], raw: dict[str, Any]) -> None:
    """Remove the objects left empty by the removals (``models: {}`` once its only key is out)."""
    for key in list(kept):
        value, before = kept[key], raw.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            _prune_emptied(value, before)
            if not value and before:
                del kept[key]


def _path_of(problem: str) -> str | None:
    match = _PROBLEM.match(problem)
    return match.group("path") if match else None


def _message_of(problem: str) -> str:
    """The loader's message without the value it quotes (``(got string "...")``): it may be a secret."""
    match = _PROBLEM.match(problem)
    return _GOT.sub("", match.group("message") if match else problem)


def _remove(tree: Any, path: str) -> bool:
    """Delete the value at dotted ``path`` (``a.b[2].c``); False when the path does not lead anywhere."""
    segments = [int(index) if index else key for key, index in _SEGMENT.findall(path)]
    node = tree
    for segment in segments[:-1]:
        try:
            node = node[segment]
        except (KeyError, IndexError, TypeError):
            return False
    last = segments[-1] if segments else None
    if isinstance(node, dict) and isinstance(last, str) and last in node:
        del node[last]
        return True
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        del node[last]
        return True
    return False

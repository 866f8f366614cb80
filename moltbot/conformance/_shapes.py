"""Validating what a target sends, with additions of a newer server told apart from mistakes.

Every object of both contracts (ours, OpenClaw's) is closed (``additionalProperties: false``), so a
server newer than the spec fails it the moment it grows a field, which the version policy allows
without a bump (OpenClaw 2026.9.6 sends fields its own 2026.9.1 schema lacks). A mismatch is therefore
checked twice: against the schema as written and against an "open" copy that accepts unknown keys.
If only the closed one fails, the instance is valid apart from additions: the check passes and the
added fields are reported as "newer" (``Validating.newer``). Anything else is a failure.
"""

from __future__ import annotations

from typing import Any, Self

import jsonschema

__all__ = ["Validating", "open_schema"]

MAX_LISTED = 8


def open_schema(schema: Any) -> Any:
    """``schema`` with every ``additionalProperties: false`` removed (recursively)."""
    if isinstance(schema, dict):
        return {
            key: open_schema(value)
            for key, value in schema.items()
            if not (key == "additionalProperties" and value is False)
        }
    if isinstance(schema, list):
        return [open_schema(value) for value in schema]
    return schema


def _where(error: jsonschema.ValidationError) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    return f"at /{path}" if path else "at root"


def _additions(errors: Any, found: list[str]) -> None:
    """The ``at /path: key`` of every unknown key the closed schema refused (best effort, bounded)."""
    for error in errors:
        if len(found) >= MAX_LISTED:
            return
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            declared = set(error.schema.get("properties") or {})
            for key in sorted(set(error.instance) - declared):
                entry = f"{_where(error)}: {key}"
                if entry not in found:
                    found.append(entry)
        if error.context:
            _additions(error.context, found)


class Validating:
    """Validator cache and the closed/open comparison shared by both specs."""

    def __init__(self, validator_class: type, defs_key: str, defs: dict[str, Any], dialect: str) -> None:
        self._validator_class = validator_class
        self._defs_key = defs_key
        self._defs = defs
        self._dialect = dialect
        self._open_defs: dict[str, Any] | None = None
        self._validators: dict[tuple[str, bool], Any] = {}
        self.newer: list[str] = []  # additions seen by this view (see ``fresh``)

    def fresh(self) -> Self:
        """A view sharing the validators with an empty ``newer`` list (one per check)."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.newer = []
        return view

    @property
    def newer_all(self) -> list[str]:
        return list(self.newer)

    def _validator(self, key: str, schema: dict[str, Any], *, opened: bool = False) -> Any:
        validator = self._validators.get((key, opened))
        if validator is None:
            defs = self._defs
            if opened:
                if self._open_defs is None:
                    self._open_defs = open_schema(self._defs)
                defs, schema = self._open_defs, open_schema(schema)
            document = {"$schema": self._dialect, **schema, self._defs_key: defs}
            validator = self._validators[(key, opened)] = self._validator_class(document)
        return validator

    def _problem(self, key: str, schema: dict[str, Any], instance: Any, what: str = "") -> str | None:
        """Why ``instance`` fails ``schema``; ``None`` when valid or valid apart from additions."""
        closed = self._validator(key, schema)
        if closed.is_valid(instance):
            return None
        opened = self._validator(key, schema, opened=True)
        if opened.is_valid(instance):
            found: list[str] = []
            _additions(closed.iter_errors(instance), found)
            self.newer.extend(f"{what} {entry}".strip() for entry in found or ["(unlisted additions)"])
            return None
        error = jsonschema.exceptions.best_match(
            opened.iter_errors(instance)
        )  # a real mistake, not an addition
        return None if error is None else f"{_where(error)}: {error.message}"

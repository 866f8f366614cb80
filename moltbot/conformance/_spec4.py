"""Protocol 4 as OpenClaw defines it: its ``protocol.schema.json`` behind the interface of ``Spec``.

When the target speaks 4, every frame, the hello-ok and the payloads the schema defines are validated
against OpenClaw's official contract (bundled: ``openclaw/protocol.schema.json.gz``, 2026.9.1, MIT; or
``--schema PATH``). The schema names scopes ``operator.read``…; they are given here as ours are
(``read``, ``write``, ``admin``, ``pairing``, ``node``, plus 4's ``dynamic``, ``approvals``, ``questions``,
``talk``) so the checks read both specs alike. What the schema lacks falls back to our ``protocol-spec``
(the challenge, the results of methods without a ``…Result`` definition, most event payloads), where a
newer field is "newer", not a failure.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any, Self

import jsonschema

from ._shapes import Validating
from ._spec import MethodQueries, Spec, load_spec

__all__ = ["BUNDLED_SCHEMA_VERSION", "SchemaUnavailable", "Spec4", "load_spec4"]

BUNDLED_SCHEMA_VERSION = "@openclaw/gateway-protocol@2026.9.1"
DIALECT_07 = "http://json-schema.org/draft-07/schema#"
# Event name → definition, where the name does not camel-case to it.
EVENT_DEFINITIONS = {
    "chat": "ChatEvent",
    "agent": "AgentEvent",
    "tick": "TickEvent",
    "shutdown": "ShutdownEvent",
    "talk.event": "TalkEvent",
}


class SchemaUnavailable(Exception):
    """The protocol-4 schema could not be read (a ``--schema`` path that is missing or not the schema)."""


def _camel(method: str) -> str:
    parts = method.replace("-", ".").replace("_", ".").split(".")
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


class Spec4(MethodQueries, Validating):
    """OpenClaw's schema with the ``Spec`` interface (module docstring); ``ours`` is the fallback."""

    protocol4 = True
    label = "OpenClaw's protocol.schema.json"

    def __init__(self, document: dict[str, Any], ours: Spec, version: str) -> None:
        self.document = document
        self.version = version
        self.ours = ours
        self.definitions: dict[str, Any] = document["definitions"]
        self.methods: dict[str, dict[str, Any]] = {
            name: {
                "scope": str(entry.get("scope", "")).removeprefix("operator."),
                "since": 4,
                "upstreamSince": entry.get("since"),
            }
            for name, entry in document["methods"].items()
        }
        self.events = ours.events
        super().__init__(jsonschema.Draft7Validator, "definitions", self.definitions, DIALECT_07)

    def fresh(self) -> Self:
        view = super().fresh()
        view.ours = self.ours.fresh()
        return view

    @property
    def newer_all(self) -> list[str]:
        return [*self.newer, *self.ours.newer]

    def _def(self, name: str, instance: Any, what: str) -> str | None:
        return self._problem(f"def:{name}", {"$ref": f"#/definitions/{name}"}, instance, what)

    def frame_problem(self, frame: Any) -> str | None:
        if isinstance(frame, dict) and frame.get("type") in ("req", "res", "event"):
            name = {"req": "RequestFrame", "res": "ResponseFrame", "event": "EventFrame"}[frame["type"]]
            return self._def(name, frame, name)
        return 'at /type: must be one of "req", "res", "event"'

    def problem(self, instance: Any, definition: str) -> str | None:
        if definition in self.definitions:
            return self._def(definition, instance, definition)
        return self.ours.problem(instance, definition)

    def result_problem(self, method: str, payload: Any) -> str | None:
        name = f"{_camel(method)}Result"
        if name in self.definitions:
            return self._def(name, payload, f"{method} result")
        if method in self.ours.methods:
            return self._unspecified(f"{method} result", self.ours.result_problem(method, payload))
        return None

    def _unspecified(self, what: str, problem: str | None) -> str | None:
        """4 defines no schema for ``what``: how it differs from ours is a note, never a failure (ours
        describes protocols 3 and 7, not OpenClaw's 4)."""
        if problem is not None:
            self.newer.append(f"{what} (no schema at 4; differs from ours {problem})")
        return None

    def event_problem(self, event: str, payload: Any) -> str | None:
        name = EVENT_DEFINITIONS.get(event, f"{_camel(event)}Event")
        if name in self.definitions:
            return self._def(name, payload, f"{event} event")
        return self._unspecified(f"{event} event", self.ours.event_problem(event, payload))

    def params_schema(self, method: str) -> dict[str, Any]:
        return self.definitions.get(f"{_camel(method)}Params") or (
            self.ours.params_schema(method) if method in self.ours.methods else {}
        )

    def has_params_schema(self, method: str) -> bool:
        return f"{_camel(method)}Params" in self.definitions


def _read(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    document: dict[str, Any] = json.loads(raw)
    return document


def load_spec4(path: str | Path | None = None) -> Spec4:
    """The protocol-4 spec: the bundled schema, or the one at ``path`` (plain JSON or gzip).

    Raises:
        SchemaUnavailable: ``path`` cannot be read or is not OpenClaw's protocol schema.
    """
    if path is None:
        return _bundled()
    try:
        document = _read(Path(path))
    except (OSError, ValueError) as exc:
        raise SchemaUnavailable(
            f"cannot read the protocol-4 schema {str(path)!r}: {type(exc).__name__}"
        ) from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("definitions"), dict)
        or not isinstance(document.get("methods"), dict)
    ):
        raise SchemaUnavailable(
            f"{str(path)!r} is not OpenClaw's protocol.schema.json (no definitions/methods)"
        )
    return Spec4(document, load_spec(), f"{Path(path).name} (given)")


@functools.cache
def _bundled() -> Spec4:
    source = resources.files(__package__).joinpath("openclaw", "protocol.schema.json.gz")
    try:
        document = json.loads(gzip.decompress(source.read_bytes()))
    except (OSError, ValueError) as exc:
        raise SchemaUnavailable(
            "the bundled protocol-4 schema is missing from this install "
            "(moltbot/conformance/openclaw/); pass --schema PATH"
        ) from exc
    return Spec4(document, load_spec(), BUNDLED_SCHEMA_VERSION)

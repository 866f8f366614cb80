"""The wire contract the harness checks against: ``protocol-spec/`` as the package generates it.

The documents come from ``moltbot.protocol._schema`` (the generator of ``protocol-spec/``), so an
installed package checks exactly what its committed spec says, without needing a checkout. Every check
reads the spec through ``Spec``: which methods exist, their scope and ``since``, and the validators for
frames, handshake payloads, method results and event payloads.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from ..protocol import _schema
from ._shapes import Validating

__all__ = ["Spec", "load_spec"]


class MethodQueries:
    """Questions about a method table (``methods``: name → entry with ``scope``), answered from ``params_schema``;
    shared by our spec and OpenClaw's."""

    methods: dict[str, Any]

    def params_schema(self, method: str) -> dict[str, Any]:
        raise NotImplementedError

    def required_params(self, method: str) -> list[str]:
        return list(self.params_schema(method).get("required", []))

    def idempotent_methods(self) -> list[str]:
        """Methods whose params require an ``idempotencyKey`` (the gateway dedupes retries of them)."""
        return [name for name in self.methods if "idempotencyKey" in self.required_params(name)]

    def methods_in_scope(self, scope: str) -> list[str]:
        return [name for name, method in self.methods.items() if method["scope"] == scope]


class Spec(MethodQueries, Validating):
    """The three spec documents and validators built from them; ``problem()`` explains a mismatch.

    A payload that is valid apart from fields the spec does not have passes; the fields are listed in
    ``newer`` (``_shapes``).
    """

    version = "protocol-spec"
    label = "protocol-spec"
    protocol4 = False

    def __init__(self, frames: dict[str, Any], methods: dict[str, Any], events: dict[str, Any]) -> None:
        self.frames_document = frames
        self.methods: dict[str, dict[str, Any]] = methods["methods"]
        self.events: dict[str, dict[str, Any]] = events["events"]
        defs: dict[str, Any] = {}
        for document in (frames, methods, events):
            defs.update(document.get("$defs", {}))
        super().__init__(jsonschema.Draft202012Validator, "$defs", defs, _schema.DIALECT)

    def frame_problem(self, frame: Any) -> str | None:
        """Why ``frame`` is not a valid ``req``/``res``/``event`` envelope (``None`` when it is)."""
        if isinstance(frame, dict) and frame.get("type") in ("req", "res", "event"):
            name = {"req": "RequestFrame", "res": "ResponseFrame", "event": "EventFrame"}[frame["type"]]
            return self.problem(frame, name)
        return 'at /type: must be one of "req", "res", "event"'

    def problem(self, instance: Any, definition: str) -> str | None:
        """Why ``instance`` does not match ``$defs/<definition>`` (``HelloOk``, ``ConnectChallenge``, ...)."""
        return self._problem(f"def:{definition}", {"$ref": f"#/$defs/{definition}"}, instance, definition)

    def result_problem(self, method: str, payload: Any) -> str | None:
        """Why ``payload`` is not a valid result of ``method``."""
        return self._problem(f"result:{method}", self.methods[method]["result"], payload, f"{method} result")

    def event_problem(self, event: str, payload: Any) -> str | None:
        """Why ``payload`` is not a valid payload of ``event`` (``None`` for events the spec does not know)."""
        if event not in self.events:
            return None
        return self._problem(f"event:{event}", self.events[event], payload, f"{event} event")

    def params_schema(self, method: str) -> dict[str, Any]:
        """The params schema of ``method`` with its ``$ref`` resolved (one level)."""
        schema = self.methods[method]["params"]
        ref = schema.get("$ref", "")
        found: dict[str, Any] = self._defs[ref.rsplit("/", 1)[-1]] if ref.startswith("#/$defs/") else schema
        return found


@functools.cache
def load_spec() -> Spec:
    """The spec of this package (what ``python -m moltbot.protocol._schema --write`` puts in protocol-spec/)."""
    return Spec(_schema.frames_schema(), _schema.methods_document(), _schema.events_document())

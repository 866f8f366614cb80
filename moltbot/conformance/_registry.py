"""The check table: each check's name, area, the protocol version it needs and what it requires.

Checks register with ``@check(...)`` in ``_checks/<area>.py``; the per-method checks are generated from
``methods.json`` when the table is built, so the harness grows with every method that lands.

Requirements are strings the runner resolves before running a check, and a check that does not apply is
reported as skipped with the reason:
- ``"method:<name>"``: the target advertises that method in ``hello-ok.features.methods``;
- ``"restart"``: the ``Target`` has a ``restart`` hook;
- ``"capability:<name>"``: the ``Target`` opted in to that capability (``Target.capabilities``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._context import CheckContext
    from ._spec import Spec

__all__ = ["Check", "all_checks", "check", "select"]

CheckFunction = Callable[["CheckContext"], Awaitable[str | None]]

_REGISTERED: list[Check] = []
# Run order of the areas (within one ``order``): the handshake first, the restart last.
AREAS = ("handshake", "framing", "session", "auth", "scopes", "methods", "events", "robustness", "lifecycle")


@attrs.frozen
class Check:
    """One check. ``per_version`` checks run once per protocol version of the run (named ``name[vN]``);
    the others run once, at the highest version the target speaks. ``order`` puts destructive checks
    (restart, rate-limit lockout) last. ``version_gate=False`` lets a per-version check run even at a
    version the target refused (the check itself decides what that means)."""

    name: str
    fn: CheckFunction = attrs.field(repr=False)
    description: str = ""
    since: int = 3
    per_version: bool = False
    requires: tuple[str, ...] = ()
    order: int = 0
    version_gate: bool = True
    method: str | None = None  # for the generated per-method checks: the method they are about
    params_check: bool = False  # … and whether it is the ``.params`` check

    @property
    def area(self) -> str:
        return self.name.split(".", 1)[0]


def check(
    name: str,
    *,
    since: int = 3,
    per_version: bool = False,
    requires: Iterable[str] = (),
    order: int = 0,
    version_gate: bool = True,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``fn`` as the check ``name``; its docstring's first line is the description."""

    def register(fn: CheckFunction) -> CheckFunction:
        description = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTERED.append(
            Check(name, fn, description, since, per_version, tuple(requires), order, version_gate)
        )
        return fn

    return register


def all_checks(spec: Spec) -> list[Check]:
    """Every check: the registered ones and the per-method ones generated from ``spec``, in run order."""
    from ._checks import methods  # importing the package registers every area

    checks = [*_REGISTERED, *methods.method_checks(spec)]
    return sorted(checks, key=lambda c: (c.order, AREAS.index(c.area) if c.area in AREAS else len(AREAS)))


def select(name: str, patterns: Iterable[str] | None) -> bool:
    """Whether the check called ``name`` (``x.y`` or ``x.y[vN]``) is selected by ``patterns``.

    A pattern selects a check by exact name, by glob (``auth.*``), by its name without the version
    suffix, or by area/prefix (``handshake`` selects every ``handshake.…`` check).
    """
    if patterns is None:
        return True
    base = name.split("[", 1)[0]
    for pattern in patterns:
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(base, pattern):
            return True
        if base.startswith(pattern.rstrip(".") + "."):
            return True
    return False

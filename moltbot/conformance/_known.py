"""Documented bugs of released gateways: failures the harness reports as KNOWN, with their evidence.

A conformance run against a released gateway should end with no failures but its own bugs, and those
must be written down, not hidden: each entry names the release (``server.version`` glob), the check (glob)
and a phrase of the failure reason it explains, and says what the bug is and how it was seen. A result
matching one keeps its reason and offending frame and gets status KNOWN (not counted as a failure); one
that matches no entry stays a failure. Entries are about the target's bugs only, never about ours.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import attrs

from ._report import FAIL, KNOWN, CheckResult

__all__ = ["KNOWN_BUGS", "KnownBug", "known_bug"]


@attrs.frozen
class KnownBug:
    server: str  # glob over hello-ok server.version
    check: str  # glob over the check name
    reason: str  # a phrase the failure reason contains
    protocols: tuple[int, ...]  # the versions it applies at
    description: str  # what the bug is, with the evidence


KNOWN_BUGS: tuple[KnownBug, ...] = (
    KnownBug(
        "2026.9.*",
        "session.empty_id_answered_as_invalid*",
        "at /id",
        (4,),
        'OpenClaw answers a request with an empty id with id "" (observed), which its own '
        "schema refuses (ResponseFrame.id minLength 1); a client cannot match that response to anything",
    ),
    KnownBug(
        "2026.9.*",
        "methods.channels.status",
        "/eventLoop/intervalMs",
        (4,),
        "OpenClaw 2026.9.6 sends channels.status eventLoop.intervalMs as a fraction of milliseconds "
        "(observed 1009.198…), where its schema's ChannelsStatusResult says integer",
    ),
    KnownBug(
        "2026.9.*",
        "methods.models.authStatus.params",
        "expected an INVALID_REQUEST error",
        (4,),
        "OpenClaw 2026.9.6 answers models.authStatus with an unknown params key ok (observed: the provider "
        "list), where its schema's ModelsAuthStatusParams is closed (additionalProperties false)",
    ),
)


def known_bug(result: CheckResult, server: dict[str, Any], protocols: tuple[int, ...]) -> CheckResult:
    """``result`` as KNOWN when it is a failure a documented bug of this release explains."""
    if result.status != FAIL:
        return result
    version = str(server.get("version") or "")
    for bug in KNOWN_BUGS:
        if (
            result.protocol in bug.protocols
            and fnmatch.fnmatchcase(version, bug.server)
            and fnmatch.fnmatchcase(result.name, bug.check)
            and bug.reason in result.reason
        ):
            return attrs.evolve(result, status=KNOWN, known=bug.description)
    return result

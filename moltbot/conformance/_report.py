"""What a conformance run found: one ``CheckResult`` per check, rendered as a table, JSON or JUnit XML.

A result keeps the reason, the offending frame (when one frame proves the failure) and the last frames
exchanged, so a failure can be read without re-running anything.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from typing import Any, Literal

import attrs

from ..protocol import dumps

__all__ = ["PASS", "FAIL", "KNOWN", "SKIP", "CheckResult", "Report", "Status"]

Status = Literal["pass", "fail", "skip", "known"]
PASS: Status = "pass"
FAIL: Status = "fail"
SKIP: Status = "skip"
# A failure that matches a documented bug of the target's release (``_known.py``): reported with its
# evidence, not counted as a failure of the run.
KNOWN: Status = "known"

_TABLE_FRAME_CHARS = 300
_MAX_FRAME_CHARS = 4000


def _frame_text(frame: Any, limit: int) -> str:
    text = frame if isinstance(frame, str) else dumps(frame, default=repr, separators=None)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


@attrs.frozen
class CheckResult:
    """The outcome of one check (at one protocol version, for per-version checks).

    ``frame`` is the offending frame of a failure (a decoded JSON value, or the text when it was not
    JSON); ``transcript`` the last frames exchanged, as ``"→ text"`` (sent) and ``"← text"`` (received).
    """

    name: str
    area: str
    status: Status
    reason: str = ""
    frame: Any = None
    protocol: int | None = None
    duration: float = 0.0
    description: str = ""
    transcript: tuple[str, ...] = ()
    newer: tuple[str, ...] = ()  # fields the target sent that the spec does not have (``_shapes``)
    known: str = ""  # for KNOWN: the documented upstream bug this failure is

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": self.name,
            "area": self.area,
            "status": self.status,
            "reason": self.reason,
            "durationMs": round(self.duration * 1000, 1),
        }
        if self.protocol is not None:
            result["protocol"] = self.protocol
        if self.frame is not None:
            result["frame"] = (
                self.frame if not isinstance(self.frame, str) else _frame_text(self.frame, _MAX_FRAME_CHARS)
            )
        if self.newer:
            result["newer"] = list(self.newer)
        if self.known:
            result["known"] = self.known
        if self.status in (FAIL, KNOWN) and self.transcript:
            result["transcript"] = list(self.transcript)
        return result


@attrs.frozen
class Report:
    """Every check's result, in the order they ran, and what the harness learned about the target."""

    url: str
    results: tuple[CheckResult, ...]
    server: dict[str, Any] = attrs.field(factory=dict)
    protocols: tuple[int, ...] = ()
    duration: float = 0.0
    main_protocol: int | None = None  # the version the checks that are not per-version ran at
    schema: str | None = None  # the protocol-4 schema the run validated against, when the target speaks 4

    @property
    def passed(self) -> list[CheckResult]:
        return [result for result in self.results if result.status == PASS]

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if result.status == FAIL]

    @property
    def skipped(self) -> list[CheckResult]:
        return [result for result in self.results if result.status == SKIP]

    @property
    def known(self) -> list[CheckResult]:
        return [result for result in self.results if result.status == KNOWN]

    @property
    def newer(self) -> list[CheckResult]:
        return [result for result in self.results if result.newer]

    @property
    def ok(self) -> bool:
        """No check failed (skips are fine: the target lacks an optional feature; documented upstream
        bugs are reported as KNOWN, not failures)."""
        return not self.failed

    def __getitem__(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def summary(self) -> str:
        text = f"{len(self.passed)} pass, {len(self.failed)} fail, {len(self.skipped)} skip"
        if self.known:
            text += f", {len(self.known)} known upstream bug{'s' if len(self.known) != 1 else ''}"
        if self.newer:
            text += f"; {len(self.newer)} with fields newer than the spec"
        return text

    def table(self, *, width: int = 110) -> str:
        """A plain-text table: status, check name, reason; a failure's offending frame under it."""
        name_width = max([len(result.name) for result in self.results] + [5])
        version = self.server.get("version", "?")
        speaks = ", ".join(str(v) for v in self.protocols) or "none"
        head = f"conformance of {self.url} (server {version}; protocols {speaks}"
        if self.main_protocol is not None and len(self.protocols) > 1:
            head += f"; checks at {self.main_protocol}"
        if self.schema:
            head += f"; protocol 4 checked against {self.schema}"
        lines = [head + ")", ""]
        lines.append(f"{'STATUS':<6}  {'CHECK':<{name_width}}  DETAIL")
        indent = " " * (8 + name_width + 2)
        for result in self.results:
            detail = result.reason or result.description
            wrapped = textwrap.wrap(detail, max(30, width - len(indent))) or [""]
            lines.append(f"{result.status.upper():<6}  {result.name:<{name_width}}  {wrapped[0]}")
            lines.extend(indent + more for more in wrapped[1:])
            if result.known:
                lines.extend(
                    indent + more
                    for more in textwrap.wrap(f"known: {result.known}", max(30, width - len(indent)))
                )
            if result.newer:
                newer = "newer: " + "; ".join(result.newer)
                lines.append(
                    indent + (newer if len(newer) <= _TABLE_FRAME_CHARS else newer[:_TABLE_FRAME_CHARS] + "…")
                )
            if result.status in (FAIL, KNOWN) and result.frame is not None:
                lines.append(f"{indent}frame: {_frame_text(result.frame, _TABLE_FRAME_CHARS)}")
        lines += ["", f"{self.summary()} in {self.duration:.1f} s"]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "server": self.server,
            "protocols": list(self.protocols),
            "mainProtocol": self.main_protocol,
            "schema": self.schema,
            "ok": self.ok,
            "passed": len(self.passed),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "known": len(self.known),
            "durationMs": round(self.duration * 1000, 1),
            "results": [result.to_json() for result in self.results],
        }

    def to_junit_xml(self, suite: str = "moltbot-conformance") -> str:
        """JUnit XML (one ``testcase`` per check, classname ``conformance.<area>``) for CI dashboards."""
        root = ET.Element(
            "testsuites",
            name=suite,
            tests=str(len(self.results)),
            failures=str(len(self.failed)),
            skipped=str(len(self.skipped) + len(self.known)),
            errors="0",
            time=f"{self.duration:.3f}",
        )
        testsuite = ET.SubElement(
            root,
            "testsuite",
            name=suite,
            tests=str(len(self.results)),
            failures=str(len(self.failed)),
            skipped=str(len(self.skipped) + len(self.known)),
            errors="0",
            time=f"{self.duration:.3f}",
        )
        properties = ET.SubElement(testsuite, "properties")
        ET.SubElement(properties, "property", name="url", value=self.url)
        ET.SubElement(properties, "property", name="protocols", value=",".join(map(str, self.protocols)))
        for result in self.results:
            case = ET.SubElement(
                testsuite,
                "testcase",
                classname=f"conformance.{result.area}",
                name=result.name,
                time=f"{result.duration:.3f}",
            )
            if result.status == FAIL:
                failure = ET.SubElement(case, "failure", message=result.reason, type="ConformanceFailure")
                body = [result.reason]
                if result.frame is not None:
                    body.append("offending frame: " + _frame_text(result.frame, _MAX_FRAME_CHARS))
                if result.transcript:
                    body += ["frames exchanged:", *result.transcript]
                failure.text = "\n".join(body)
            elif result.status == SKIP:
                ET.SubElement(case, "skipped", message=result.reason)
            elif result.status == KNOWN:
                ET.SubElement(
                    case, "skipped", message=f"known upstream bug: {result.known} ({result.reason})"
                )
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

"""Protocol conformance harness: test any moltbot-compatible gateway over the wire.

    from moltbot.conformance import Target, run_conformance

    report = await run_conformance(Target("ws://127.0.0.1:18789", token="…"))
    print(report.table())
    assert report.ok, report.table()

The same checks run against our gateway in-process, over loopback, or against the original Node.js
gateway (protocol 3): checks are tagged by protocol version and by capability, so what a target does
not offer is reported as skipped, not failed. ``moltbot conformance --url …`` is the command-line form.
"""

from ._context import CheckContext as CheckContext
from ._context import CheckFailed as CheckFailed
from ._context import CheckSkipped as CheckSkipped
from ._context import Options as Options
from ._context import Peer as Peer
from ._registry import Check as Check
from ._report import CheckResult as CheckResult
from ._report import Report as Report
from ._runner import run_conformance as run_conformance
from ._spec import Spec as Spec
from ._spec import load_spec as load_spec
from ._target import CAPABILITIES as CAPABILITIES
from ._target import Target as Target


def list_checks() -> list[Check]:
    """Every check the harness runs (per-version checks once, without the ``[vN]`` suffix), in run order."""
    from ._registry import all_checks

    return all_checks(load_spec())


__all__ = [
    "CAPABILITIES", "Check", "CheckContext", "CheckFailed", "CheckResult", "CheckSkipped", "Options", "Peer",
    "Report", "Spec", "Target", "list_checks", "load_spec", "run_conformance",
]

"""Protocol conformance harness: test any moltbot-compatible gateway over the wire.

    from moltbot.conformance import Target, run_conformance

    report = await run_conformance(Target("ws://127.0.0.1:18789", token="…"))
    print(report.table())
    assert report.ok, report.table()

The same checks run against our gateway in-process, over loopback, against the January original
(protocol 3) or against today's OpenClaw gateway (protocol 4): checks are tagged by protocol version and
by capability, so what a target does not offer is reported as skipped, not failed. By default the harness
offers 3..7 as a client does, connects as ``cli``/``cli`` with explicit scopes, and runs at the version
the target picks. At 4 every frame is validated against OpenClaw's ``protocol.schema.json`` (bundled, MIT;
``_spec4``); fields a newer server added are reported as "newer", not failures (``_shapes``); failures
that are documented bugs of the target's release are KNOWN, with their evidence (``_known``). Methods
that change the target run only with ``Target(disposable=True)``. ``moltbot conformance --url …`` is the
command-line form.
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
from ._spec4 import SchemaUnavailable as SchemaUnavailable
from ._spec4 import Spec4 as Spec4
from ._spec4 import load_spec4 as load_spec4
from ._target import CAPABILITIES as CAPABILITIES
from ._target import Target as Target


def list_checks() -> list[Check]:
    """Every check the harness runs (per-version checks once, without the ``[vN]`` suffix), in run order."""
    from ._registry import all_checks

    return all_checks(load_spec())


__all__ = [
    "CAPABILITIES",
    "Check",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "CheckSkipped",
    "Options",
    "Peer",
    "Report",
    "SchemaUnavailable",
    "Spec",
    "Spec4",
    "Target",
    "list_checks",
    "load_spec",
    "load_spec4",
    "run_conformance",
]

"""Run the protocol-conformance harness against a gateway and print the report.

Run: python examples/run_conformance.py ws://127.0.0.1:18789 <token> [CHECK ...]
(any gateway: ours, or the original Node.js one, which speaks protocol 3 only; CHECK narrows the run,
e.g. `handshake` or `auth.*`). Exits 1 when a check fails.
"""

import sys

import trio

from moltbot.conformance import Target, run_conformance


async def main(url: str, token: str, checks: list[str]) -> int:
    report = await run_conformance(Target(url, token=token), checks=checks or None)
    print(report.table())
    for result in report.failed:  # each failure carries the frame that proves it
        print(f"\n{result.name}: {result.reason}\n  offending frame: {result.frame}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: run_conformance.py URL TOKEN [CHECK ...]")
    sys.exit(trio.run(main, sys.argv[1], sys.argv[2], sys.argv[3:]))

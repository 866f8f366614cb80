"""``moltbot conformance``: run the protocol-conformance harness against a gateway and print the report."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import click
import trio

from ..conformance import (
    CAPABILITIES,
    Options,
    Report,
    SchemaUnavailable,
    Target,
    list_checks,
    load_spec4,
    run_conformance,
)
from .errors import command
from .rpc import websocket_url
from .status import resolve_target


def check_reachable(url: str, timeout: float) -> None:
    """Fail in one line when nothing accepts a TCP connection at ``url``: every check would be skipped
    with the same connect error, which the report alone does not make plain."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)

    async def probe() -> None:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", port)
        await stream.aclose()

    try:
        trio.run(probe)
    except (OSError, trio.TooSlowError) as exc:
        why = "timed out" if isinstance(exc, trio.TooSlowError) else exc.strerror or "refused"
        raise click.ClickException(f"cannot connect to {url} ({why}): is the gateway running? "
                                   f"(`{command('gateway status')}` checks)") from None


def _probe_failed(report: Report) -> bool:
    """No handshake succeeded (a wrong token, not a gateway): the table would be one failure and every
    other check skipped for it, so the one reason is the whole answer."""
    try:
        return report["connect.probe"].status == "fail"
    except KeyError:
        return False


def _restart_hook(command: str | None) -> Callable[[], Awaitable[None]] | None:
    if not command:
        return None

    async def restart() -> None:
        await trio.run_process(command, shell=True)

    return restart


@click.command("conformance")
@click.option("--url", help="Gateway WebSocket URL (default ws://127.0.0.1:<port> of the local config).")
@click.option("--token", help="Gateway token (default CLAWDBOT_GATEWAY_TOKEN, then gateway.auth.token).")
@click.option("--password", help="Gateway password (default CLAWDBOT_GATEWAY_PASSWORD).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML to FILE.")
@click.option("--only", multiple=True, metavar="NAME",
              help="Run only these checks: a name, a glob (auth.*) or an area (handshake). Repeatable; "
                   "commas also separate names.")
@click.option("--protocol", "protocols", multiple=True, type=click.IntRange(1), metavar="N",
              help="Protocol versions to test, e.g. --protocol 4. Repeatable. Default: offer 3..7 as a client "
                   "does and run at the version the gateway picks (4 for today's OpenClaw, 7 for ours), with "
                   "the per-version checks at each of 3, 4 and 7 it speaks.")
@click.option("--schema", "schema_path", type=click.Path(dir_okay=False, path_type=Path),
              help="OpenClaw's protocol.schema.json (plain or .gz) to check protocol 4 against, instead of the "
                   "bundled 2026.9.1 one.")
@click.option("--disposable", "disposable", metavar="URL",
              help="Also call the methods that change the target (send, sessions.patch/reset/delete, "
                   "node.pair.*, device.pair.approve/reject, cron.add/update/run/remove, wake, chat.abort). "
                   "Give the target's URL again as the value, to confirm that this gateway may be changed.")
@click.option("--capability", "capabilities", multiple=True, type=click.Choice(sorted(CAPABILITIES)),
              help="Opt in to a capability check: " + "; ".join(f"{k}: {v}" for k, v in CAPABILITIES.items()))
@click.option("--restart-command", metavar="CMD",
              help="Shell command that restarts the gateway (e.g. 'kill -USR1 <pid>'); enables the 1012 check.")
@click.option("--handshake-timeout-ms", type=click.IntRange(1), default=15_000, show_default=True,
              help="The gateway's handshake timeout (ours and OpenClaw's: 15 s; checked when it fits in "
                   "--max-wait, e.g. --max-wait 20).")
@click.option("--max-wait", type=click.FloatRange(0.1), default=5.0, show_default=True,
              help="Seconds a check may wait for slow behaviour (tick cadence, handshake timeout).")
@click.option("--frame-timeout", type=click.FloatRange(0.1), default=5.0, show_default=True,
              help="Seconds to wait for any one frame.")
@click.option("--list", "list_only", is_flag=True, help="List the checks and exit.")
def conformance_command(url: str | None, token: str | None, password: str | None, as_json: bool,
                        junit: Path | None, only: tuple[str, ...], protocols: tuple[int, ...],
                        schema_path: Path | None, disposable: str | None, capabilities: tuple[str, ...],
                        restart_command: str | None, handshake_timeout_ms: int, max_wait: float,
                        frame_timeout: float, list_only: bool) -> None:
    """Test a gateway over the wire (protocol-spec/; OpenClaw's schema at 4) and print pass/fail/skip per check.

    Exits 1 if any check fails. Checks a gateway lacks (an older protocol, an optional feature, a hook
    not given) are skipped with the reason. The harness calls only methods whose effect is harmless
    (system-event adds a presence entry) unless --disposable says the target may be changed; the
    rate-limit check locks this address out, so it is opt-in. Failures that are documented bugs of the
    target's release are listed as KNOWN (with the evidence) and do not fail the run.
    """
    if list_only:
        for check in list_checks():
            suffix = "[vN]" if check.per_version else ""
            click.echo(f"{check.name + suffix:<40} {check.description}")
        return
    url, token, password = resolve_target(url, token, password)
    if disposable is not None and websocket_url(disposable, note=False)[0].rstrip("/") != url.rstrip("/"):
        raise click.UsageError(f"--disposable must repeat the target URL ({url}) to confirm that this gateway "
                               f"may be changed; got {disposable!r}")
    try:
        spec4 = load_spec4(schema_path)
    except SchemaUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    target = Target(url, token=token, password=password, restart=_restart_hook(restart_command),
                    capabilities=frozenset(capabilities), handshake_timeout_ms=handshake_timeout_ms,
                    disposable=disposable is not None)
    check_reachable(url, frame_timeout)
    selected = [name.strip() for value in only for name in value.split(",") if name.strip()] or None
    options = Options(frame_timeout=frame_timeout, max_wait=max_wait)
    report = trio.run(lambda: run_conformance(target, checks=selected, protocol_versions=protocols or None,
                                              options=options, spec4=spec4))
    if junit is not None:
        junit.write_text(report.to_junit_xml(), encoding="utf-8")
    if not as_json and not report.passed and _probe_failed(report):
        raise click.ClickException(f"no handshake with {url}: {report['connect.probe'].reason}; every check "
                                   "needs one, so none ran (--json shows the report)")
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else report.table())
    if not report.ok:
        raise SystemExit(1)

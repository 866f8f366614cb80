"""``moltbot gateway install|uninstall|start|stop|restart|status``: the gateway as a user service.

Every command names the unit (systemd) or label (launchd) of the current profile. Where the service
manager is missing or unreachable (a container), the command says so and what to do, and exits 1;
``install`` still writes the unit file first (``--no-start`` writes only the file and exits 0).
``status`` puts the manager's view next to a live RPC probe of the gateway; ``stop`` checks that the
port is really free afterwards (the original's "stop" reported success while a gateway started by
hand kept serving the port).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import attrs
import click
import trio

from ..client import GatewayClosed
from ..config.model import Config
from ..protocol import RemoteProtocolError
from ..service import ServiceError, ServiceSpec, ServiceUnavailable, service_for
from ..store.ports import listeners
from .errors import command as moltbot_command
from .output import Output
from .rpc import Session, connection_options, describe_failure, failure_hints, load_cli_config


@attrs.define
class Report:
    """What one service command did, printed for people or as one JSON object."""

    out: Output
    fields: dict[str, Any] = attrs.field(factory=dict)
    messages: list[str] = attrs.field(factory=list)
    hints: list[str] = attrs.field(factory=list)

    def say(self, text: str) -> None:
        self.messages.append(text)
        if not self.out.as_json:
            self.out.line(text)

    def hint(self, text: str) -> None:
        self.hints.append(text)
        if not self.out.as_json:
            self.out.note(f"hint: {text}", style="yellow")

    def finish(self, ok: bool, error: str | None = None) -> None:
        if self.out.as_json:
            self.out.json({"ok": ok, **self.fields, "messages": self.messages, "hints": self.hints,
                           **({"error": error} if error else {})})
        elif error:
            self.out.error(error)
        raise SystemExit(0 if ok else 1)


def _manager(report: Report):
    try:
        manager = service_for(os.environ)
    except ServiceUnavailable as exc:
        report.finish(False, str(exc))
    report.fields.update({"manager": manager.manager, "name": manager.name, "path": str(manager.path)})
    return manager


def _gateway_port(config: Config) -> int:
    env_port = os.environ.get("CLAWDBOT_GATEWAY_PORT", "")
    return int(env_port) if env_port.isdigit() else config.gateway.port


json_option = click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")


@click.command("install")
@click.option("--port", type=click.IntRange(1, 65535), help="Pin the service to this port.")
@click.option("--force", is_flag=True, help="Replace a unit installed with other settings.")
@click.option("--no-start", is_flag=True, help="Only write the unit file; do not enable or start it.")
@json_option
def install_command(port: int | None, force: bool, no_start: bool, as_json: bool) -> None:
    """Install the gateway as a user service (systemd user unit / launchd agent) and start it."""
    report = Report(Output(as_json=as_json))
    config = load_cli_config()
    if config.gateway.mode != "local":
        report.finish(False, f"gateway.mode is not \"local\" in {config.path}: run `{moltbot_command('setup')}` first "
                             "(the service would exit at every start)")
    manager = _manager(report)
    content = manager.render(ServiceSpec.for_this_installation(os.environ, port=port))
    existing = manager.read()
    if existing is not None and existing != content and not force:
        report.finish(False, f"{manager.path} is already installed with other settings; "
                             "pass --force to replace it")
    manager.write(content)
    report.say(f"Wrote {manager.path}")
    report.fields["started"] = False
    if no_start:
        report.say(f"Not started (--no-start): start it with `{moltbot_command('gateway start')}`")
        report.finish(True)
    try:
        manager.check_available()
        manager.enable_and_start()
    except (ServiceUnavailable, ServiceError) as exc:
        report.finish(False, f"the service file is written, but it could not be enabled: {exc}")
    report.fields["started"] = True
    report.say(f"Enabled and started {manager.name}")
    hint = manager.linger_hint()
    if hint:
        report.hint(hint)
    report.finish(True)


@click.command("uninstall")
@json_option
def uninstall_command(as_json: bool) -> None:
    """Stop and remove the gateway service of this profile."""
    report = Report(Output(as_json=as_json))
    manager = _manager(report)
    if manager.read() is None:
        report.say(f"{manager.name} is not installed ({manager.path} does not exist)")
        report.finish(True)
    try:
        manager.check_available()
    except ServiceUnavailable as exc:
        manager.path.unlink(missing_ok=True)
        report.say(f"Removed {manager.path}")
        report.hint(f"the service manager was not reachable, so nothing was stopped: {exc}")
        report.finish(True)
    manager.uninstall()
    report.say(f"Stopped and removed {manager.name} ({manager.path})")
    report.finish(True)


DONE = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}


def _control(action: str, do: Callable[[Any], None], as_json: bool) -> None:
    report = Report(Output(as_json=as_json))
    manager = _manager(report)
    try:
        manager.check_available()
        if manager.read() is None:
            report.finish(False, f"{manager.name} is not installed: run `{moltbot_command('gateway install')}` first")
        do(manager)
    except (ServiceUnavailable, ServiceError) as exc:
        report.finish(False, f"cannot {action} {manager.name}: {exc}")
    report.say(f"{DONE[action]} {manager.name}")
    if action == "stop":
        config = load_cli_config()
        port = _gateway_port(config)
        still = listeners(port)
        if still:
            pids = ", ".join(f"pid {pid} ({command})" for pid, command in still.items())
            report.finish(False, f"the service is stopped, but port {port} is still served by {pids}: a gateway "
                                 f"started outside the service? Stop it, or start with `{moltbot_command('gateway --force')}`")
    report.finish(True)


@click.command("start")
@json_option
def start_command(as_json: bool) -> None:
    """Start the installed gateway service."""
    _control("start", lambda manager: manager.start(), as_json)


@click.command("stop")
@json_option
def stop_command(as_json: bool) -> None:
    """Stop the gateway service (and check that its port is free)."""
    _control("stop", lambda manager: manager.stop(), as_json)


@click.command("restart")
@json_option
def restart_command(as_json: bool) -> None:
    """Restart the gateway service."""
    _control("restart", lambda manager: manager.restart(), as_json)


@click.command("status")
@click.option("--no-probe", is_flag=True, help="Do not ask the gateway itself.")
@connection_options
def service_status_command(no_probe: bool, **options) -> None:
    """The service manager's view of the gateway service, and a live probe of the gateway.

    Exits 0 when the service is installed, running and (unless --no-probe) answering; where there is no
    service manager (a container), when the gateway answers.
    """
    session = Session.from_options(options)
    out = session.out
    report = Report(out)
    ok = True
    no_manager = False
    try:
        manager = service_for(os.environ)
        report.fields.update({"manager": manager.manager, "name": manager.name, "path": str(manager.path)})
        manager.check_available()
        state = manager.status()
        report.fields["service"] = state.to_json()
        ok = state.installed and state.running
        _describe_service(report, state)
    except ServiceUnavailable as exc:  # no manager at all (a container): the gateway's answer decides
        ok, no_manager = False, True
        report.fields["service"] = {"available": False, "error": str(exc)}
        report.say(f"Service: unavailable: {exc}")
    except ServiceError as exc:
        ok = False
        report.fields["service"] = {"available": False, "error": str(exc)}
        report.say(f"Service: unavailable: {exc}")
    if not no_probe:
        answering = _probe(session, report)
        if no_manager and answering:
            report.say("No service manager here: the gateway runs outside a service (started by hand or "
                       "by the container), which is fine")
        ok = answering and (ok or no_manager)
    report.finish(ok)


def _describe_service(report: Report, state) -> None:
    if not state.installed:
        report.say(f"Service: {state.name} is not installed (`{moltbot_command('gateway install')}`)")
        return
    detail = f"{state.active or 'unknown'}{f' ({state.sub_state})' if state.sub_state else ''}"
    if state.pid:
        detail += f", pid {state.pid}"
    if state.restarts:
        detail += f", restarted {state.restarts} time(s)"
    report.say(f"Service: {state.manager} {state.name}: {detail}")
    report.say(f"  file: {state.path}")
    for problem in state.problems:
        report.hint(problem)


def _probe(session: Session, report: Report) -> bool:
    try:
        payload = session.attempt(lambda client: client.call("status"), waiting="Probing the gateway")
    except (RemoteProtocolError, GatewayClosed, trio.TooSlowError) as exc:
        report.fields["probe"] = {"ok": False, "url": session.target.url, "error": str(exc) or type(exc).__name__}
        report.say(f"Gateway: {describe_failure(exc, session.target, session.timeout_ms)}")
        for hint in failure_hints(exc, session.target):
            report.hint(hint)
        return False
    gateway = (payload or {}).get("gateway") or {}
    report.fields["probe"] = {"ok": True, "url": session.target.url, "pid": gateway.get("pid"),
                              "version": gateway.get("version"), "connections": gateway.get("connections")}
    report.say(f"Gateway: answering at {session.target.url}"
               + (f" (pid {gateway['pid']}, version {gateway.get('version')})" if gateway.get("pid") else ""))
    return True


SERVICE_COMMANDS = [install_command, uninstall_command, start_command, stop_command, restart_command,
                    service_status_command]

"""``moltbot doctor``: find what stops the gateway from starting or clients from connecting, and say
how to fix each thing; ``--fix`` applies the fixes that cannot lose anything.

Checks, in order: the config (loads, local mode, warnings), permissions of the state dir and secret
files, the exposure of the bind (who can reach the gateway; Tailscale's daemon and CLI when used), the gateway token (present, strong, the same for this shell and the config), the model (none
configured: agents answer with echo; a provider without its key or base URL), the port (free, or
held by this profile's gateway, or by whom), the canvas host's port, the single-instance lock (free, held by a live gateway, or
held by a process that does not serve its port, which the original's ``stop`` missed; and the port the gateway
serves is the configured one), the user service (can the user manager see and run it),
and, when the gateway answers, its channels' link state.

Safe fixes (``--fix``): create the config with a token and local mode (``moltbot setup``), tighten
permissions, generate a token when there is none, remove a stale lock record. Replacing an existing
(weak) token is never automatic, because clients holding it would be locked out: it takes
``--generate-gateway-token``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import attrs
import click
import psutil
import trio

from ..client import GatewayClosed
from ..config.load import ConfigError, generate_token, load_config, store_gateway_token
from ..config.model import Config
from ..config.paths import resolve_config_path, resolve_state_dir
from ..config.ports import canvas_host_port
from ..protocol import RemoteProtocolError
from ..service import ServiceError, ServiceUnavailable, service_for
from ..store.lock import lock_holder, lock_path
from ..store.ports import listeners
from .doctor_exposure import check_exposure
from .errors import command
from .output import Output, Steps, progress
from .rpc import Session, failure_hints
from .setup import ensure_setup
from .status import channel_state

WEAK_TOKENS = {"changeme", "change-me", "password", "secret", "token", "test", "admin", "moltbot", "clawdbot"}
MIN_TOKEN_LENGTH = 24


@attrs.frozen
class Finding:
    check: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str | None = None
    apply: Callable[[], object] | None = attrs.field(default=None, eq=False, repr=False)  # the safe fix

    def to_json(self) -> dict:
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix,
                "autoFixable": self.apply is not None}


@attrs.define
class Context:
    env: dict[str, str]
    config: Config | None = None
    port: int | None = None
    gateway_pid: int | None = None  # the lock holder, when it is alive


def check_config(ctx: Context) -> list[Finding]:
    path = resolve_config_path(ctx.env)
    try:
        ctx.config = load_config(path, env=dict(ctx.env))
    except ConfigError as exc:
        return [Finding("config", "fail", str(exc), f"edit {path} (nothing else changes until it loads)")]
    config = ctx.config
    env_port = ctx.env.get("CLAWDBOT_GATEWAY_PORT", "")
    ctx.port = int(env_port) if env_port.isdigit() else config.gateway.port
    setup = lambda: ensure_setup(path, resolve_state_dir(ctx.env), workspace=None, mode="local")  # noqa: E731
    if not path.exists():
        return [Finding("config", "warn", f"no config file at {path}: the gateway will not start without "
                        "--allow-unconfigured", command("setup"), setup)]
    findings = [Finding("config", "warn", f"config warning: {warning}", f"edit {path}") for warning in config.warnings]
    if config.gateway.mode == "remote":
        findings.append(Finding("config", "ok", f"{path} is valid; remote mode: this machine is a client of "
                                f"{config.gateway.remote.url or '(gateway.remote.url not set)'}"))
    elif config.gateway.mode != "local":
        findings.append(Finding("config", "warn", f"gateway.mode is not set: `{command('gateway')}` refuses to start "
                                "without --allow-unconfigured", command("setup"), setup))
    else:
        findings.append(Finding("config", "ok", f"{path} is valid (local mode, port {ctx.port})"))
    return findings


def _private(path: Path, mode: int, what: str) -> Finding | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_uid != os.getuid():
        return Finding("permissions", "fail", f"{what} {path} belongs to uid {info.st_uid}, not you "
                       f"(uid {os.getuid()}): was it created with sudo?", f"sudo chown -R $USER {path}")
    current = stat.S_IMODE(info.st_mode)
    if current & 0o077:
        return Finding("permissions", "fail", f"{what} {path} is mode {current:04o}: other users can read it",
                       f"chmod {mode:o} {path}", lambda: os.chmod(path, mode))
    return None


def check_permissions(ctx: Context) -> list[Finding]:
    state_dir = resolve_state_dir(ctx.env)
    home = Path(ctx.env.get("HOME") or Path.home())
    candidates = [(state_dir, 0o700, "state dir"), (resolve_config_path(ctx.env), 0o600, "config file"),
                  (state_dir / "credentials", 0o700, "credentials dir"),
                  (home / ".clawdbot" / "identity" / "device.json", 0o600, "device identity")]
    findings = [finding for path, mode, what in candidates if (finding := _private(path, mode, what))]
    if not findings:
        findings.append(Finding("permissions", "ok", f"{state_dir} and its secrets are private"
                                if state_dir.exists() else f"{state_dir} does not exist yet"))
    return findings


def token_weakness(token: str) -> str | None:
    if token.lower() in WEAK_TOKENS:
        return "a well-known word"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"{len(token)} characters (fewer than {MIN_TOKEN_LENGTH})"
    if len(set(token)) < 8:
        return "too few distinct characters"
    return None


def check_token(ctx: Context, *, regenerate: bool) -> list[Finding]:
    config = ctx.config
    if config is None or config.gateway.mode == "remote":
        return [Finding("token", "skip", "no local gateway config")]
    auth = config.gateway.auth
    env_token = ctx.env.get("CLAWDBOT_GATEWAY_TOKEN")
    findings = []
    store = lambda: store_gateway_token(config, generate_token(), env=dict(ctx.env))  # noqa: E731
    if auth.mode == "password" or (auth.password and not auth.token):
        password = auth.password or ctx.env.get("CLAWDBOT_GATEWAY_PASSWORD")
        if not password:
            return [Finding("token", "fail", "auth mode is password but no password is set",
                            "set gateway.auth.password or CLAWDBOT_GATEWAY_PASSWORD")]
        if len(password) < 12:
            findings.append(Finding("token", "warn", f"the gateway password has {len(password)} characters",
                                    "use a longer gateway.auth.password"))
    elif not auth.token and not env_token:
        findings.append(Finding("token", "warn", "no gateway token: one is generated on the gateway's first start",
                                command("doctor --fix") + " (generates and stores one now)", store))
    elif auth.token and (weakness := token_weakness(auth.token)):
        fix = command("doctor --generate-gateway-token") + " (then give clients the new token)"
        findings.append(Finding("token", "fail", f"gateway.auth.token is weak: {weakness}", fix,
                                store if regenerate else None))
    if env_token and auth.token and env_token != auth.token:
        findings.append(Finding(
            "token", "warn", "CLAWDBOT_GATEWAY_TOKEN in this shell differs from gateway.auth.token: clients run "
            "here send the environment's token, the gateway uses its config's, so they get \"token mismatch\"",
            "unset CLAWDBOT_GATEWAY_TOKEN, or set it to the config's token"))
    if not findings:
        findings.append(Finding("token", "ok", "the gateway token is set and strong"))
    return findings


def check_model(ctx: Context) -> list[Finding]:
    """Which model the default agent answers with: none configured means the offline echo model."""
    from ..agents.providers.base import ProviderError
    from ..agents.providers.registry import ECHO_MODEL, model_refs, resolve_model

    config = ctx.config
    if config is None or config.gateway.mode == "remote":
        return [Finding("model", "skip", "no local gateway config")]
    primary = model_refs(config)[0]
    if primary in (ECHO_MODEL, "echo"):
        return [Finding("model", "warn", "no model provider: agents answer with echo",
                        f"{command('setup')} (asks on a terminal), or {command('setup --provider openai --api-key-env OPENAI_API_KEY')}")]
    try:
        resolve_model(config, env=ctx.env)
    except ProviderError as exc:
        provider = primary.partition("/")[0]
        if "needs an API key" in str(exc):  # the gateway's environment may have it (a service's, not this shell's)
            return [Finding("model", "warn", f"{primary}: {exc} (not in this shell: the gateway needs it where it runs)",
                            f"export the variable for the gateway, or `{command(f'setup --provider {provider} --api-key-stdin')}`")]
        return [Finding("model", "fail", f"{primary}: {exc}: agent runs fail",
                        f"`{command('config set PATH VALUE')}` as it says, or `{command('setup')}`")]
    return [Finding("model", "ok", f"agents answer with {primary}")]


def check_lock(ctx: Context) -> list[Finding]:
    if ctx.config is None or ctx.config.path is None:
        return [Finding("lock", "skip", "no config")]
    path = lock_path(ctx.config.path)
    held, record = lock_holder(path)
    pid, port = record.get("pid"), record.get("port") or ctx.port
    if not held:
        if pid:
            return [Finding("lock", "warn", f"stale lock record {path} from pid {pid}, which no longer holds it "
                            "(the lock itself is free: the next start works)", f"rm {path}", lambda: path.unlink(missing_ok=True))]
        return [Finding("lock", "ok", "free: no gateway is running for this config")]
    if not pid or not psutil.pid_exists(pid):
        return [Finding("lock", "fail", f"{path} is locked by an unknown process", f"lsof {path}")]
    ctx.gateway_pid = pid
    if port and pid not in listeners(port):
        return [Finding("lock", "fail", f"gateway pid {pid} holds the lock but does not listen on port {port} "
                        "(hung, or still starting)", f"kill {pid} (or `{command('gateway --force')}`)")]
    if port and ctx.port and port != ctx.port:
        return [_port_mismatch(pid, port, ctx.port, record.get("portSource"))]
    return [Finding("lock", "ok", f"held by the running gateway, pid {pid} (port {port})")]


def _port_mismatch(pid: int, served: int, configured: int, source: str | None) -> Finding:
    """The gateway serves another port than the one clients look for (``status``, ``dashboard``)."""
    why = f" (pinned by {source} at its start)" if source in ("--port", "CLAWDBOT_GATEWAY_PORT") else ""
    return Finding("port", "fail", f"this profile's gateway (pid {pid}) serves port {served}{why}, but the "
                   f"configured port is {configured}: status, dashboard and the CLI look for it there",
                   f"restart it without --port (`{command('gateway --force')}`), or set gateway.port to {served}")


def check_port(ctx: Context) -> list[Finding]:
    if ctx.port is None:
        return [Finding("port", "skip", "no config")]
    found = listeners(ctx.port)
    if not found:
        return [Finding("port", "ok", f"port {ctx.port} is free (no gateway is listening)")]
    others = {pid: command for pid, command in found.items() if pid != ctx.gateway_pid}
    if not others:
        return [Finding("port", "ok", f"port {ctx.port}: this profile's gateway (pid {ctx.gateway_pid})")]
    who = ", ".join(f"pid {pid} ({command[:80]})" for pid, command in others.items())
    return [Finding("port", "fail" if ctx.gateway_pid is None else "warn",
                    f"port {ctx.port} is used by {who}, not by this profile's gateway",
                    f"stop it, set another gateway.port, or start with `{command('gateway --force')}`")]


def check_canvas_port(ctx: Context) -> list[Finding]:
    """The canvas host's port (gateway + 4, or canvasHost.port): busy, the gateway runs without a canvas."""
    if ctx.config is None or ctx.port is None:
        return [Finding("canvas", "skip", "no config")]
    if not ctx.config.canvas_host.enabled or ctx.env.get("CLAWDBOT_SKIP_CANVAS_HOST") == "1":
        return [Finding("canvas", "skip", "the canvas host is disabled")]
    port = canvas_host_port(ctx.port, ctx.config.canvas_host.port)
    if port == 0:
        return [Finding("canvas", "ok", "the canvas host takes any free port")]
    others = {pid: command for pid, command in listeners(port).items() if pid != ctx.gateway_pid}
    if not others:
        return [Finding("canvas", "ok", f"canvas port {port} is free or this profile's gateway's")]
    who = ", ".join(f"pid {pid} ({command[:80]})" for pid, command in others.items())
    return [Finding("canvas", "warn", f"canvas port {port} is used by {who}: the gateway runs without its canvas host",
                    "stop it, or set canvasHost.port (or canvasHost.enabled: false)")]


def check_service(ctx: Context) -> list[Finding]:
    try:
        manager = service_for(ctx.env)
    except ServiceUnavailable as exc:
        return [Finding("service", "skip", str(exc))]
    try:
        manager.check_available()
        state = manager.status()
    except ServiceUnavailable as exc:
        status = "warn" if manager.read() is not None else "skip"
        return [Finding("service", status, f"no service manager: {exc}")]
    except ServiceError as exc:
        return [Finding("service", "warn", str(exc))]
    if not state.installed:
        return [Finding("service", "skip", f"{state.name} is not installed (optional)", command("gateway install"))]
    findings = [Finding("service", "fail", problem, command("gateway install --force")) for problem in state.problems]
    if not state.running:
        findings.append(Finding("service", "warn", f"{state.name} is installed but {state.active or 'not running'}",
                                command("gateway start")))
    hint = manager.linger_hint()
    if hint:
        findings.append(Finding("service", "warn", "lingering is off: the service stops when you log out",
                                hint.split(": ", 1)[-1]))
    return findings or [Finding("service", "ok", f"{state.name} is running (pid {state.pid})")]


def check_gateway(ctx: Context, timeout_ms: int) -> list[Finding]:
    if ctx.config is None:
        return [Finding("channels", "skip", "no config")]
    if ctx.port is not None and not listeners(ctx.port) and ctx.config.gateway.mode != "remote":
        return [Finding("channels", "skip", "the gateway is not running: channel link state unknown",
                        command("gateway"))]
    session = Session.from_options({"timeout": timeout_ms})
    try:
        health = session.attempt(lambda client: client.call("health", {"probe": True}))
    except (RemoteProtocolError, GatewayClosed, trio.TooSlowError) as exc:
        reason = str(exc) or f"no answer within {timeout_ms} ms"
        return [Finding("gateway", "fail", f"the gateway at {session.target.url} did not answer: {reason}",
                        "; ".join(h for h in failure_hints(exc, session.target) if command("doctor") not in h)
                        or f"{command('logs')}, or restart it")]
    findings = [Finding("gateway", "ok", f"answers at {session.target.url}")]
    channels = health.get("channels") or {}
    for name in health.get("channelOrder") or list(channels):
        summary = channels.get(name) or {}
        state, detail = channel_state(summary)
        fix = None if state in ("ok", "skip") else f"check channels.{name} in the config, then `{command('logs')}`"
        findings.append(Finding("channels", state, f"{name}: {detail}", fix))
    if not channels:
        findings.append(Finding("channels", "skip", "no channels configured"))
    return findings


def run_checks(env: dict[str, str], *, timeout_ms: int, regenerate: bool, steps: Steps | None = None) -> list[Finding]:
    ctx = Context(env)
    checks: list[tuple[str, Callable[[Context], list[Finding]]]] = [
        ("the config", check_config), ("permissions", check_permissions),
        ("the gateway token", lambda ctx: check_token(ctx, regenerate=regenerate)), ("the model", check_model),
        ("the lock", check_lock), ("the exposure", check_exposure), ("the port", check_port),
        ("the canvas port", check_canvas_port), ("the service", check_service),
        ("the gateway", lambda ctx: check_gateway(ctx, timeout_ms))]
    findings: list[Finding] = []
    for label, check in checks:
        if steps is not None:
            steps.step(f"checking {label}")
        findings += check(ctx)
    return findings


def _print_findings(out: Output, findings: list[Finding]) -> None:
    if out.tty:
        out.table(["Check", "Status", "Detail", "Fix"], [[f.check, f.status, f.detail, f.fix or ""] for f in findings],
                  status_column=1)
        return
    for finding in findings:  # piped: one finding per line, its fix indented below (grep-friendly)
        out.line(f"{finding.status:<4}  {finding.check}: {finding.detail}")
        if finding.fix and finding.status != "ok":
            out.line(f"      fix: {finding.fix}")


@click.command("doctor")
@click.option("--fix", "--repair", "fix", is_flag=True, help="Apply the safe fixes.")
@click.option("--generate-gateway-token", "regenerate", is_flag=True,
              help="Replace a weak gateway token (clients need the new one).")
@click.option("--timeout", type=click.IntRange(1), default=3000, show_default=True,
              help="Milliseconds to wait for the gateway.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor_command(fix: bool, regenerate: bool, timeout: int, as_json: bool) -> None:
    """Check config, permissions, token, port, lock, service and channels; print a fix for each problem."""
    out = Output(as_json=as_json)
    env = dict(os.environ)
    with progress("checking", announce=False, plain_steps=False) as steps:
        findings = run_checks(env, timeout_ms=timeout, regenerate=regenerate, steps=steps)
    applied = []
    if fix or regenerate:
        fixes = [f for f in findings if f.apply is not None and f.status in ("warn", "fail")]
        shown = not as_json and bool(fixes)
        with progress(f"applying {len(fixes)} fix(es)", total=len(fixes), announce=shown, plain_steps=shown) as steps:
            for finding in fixes:
                steps.step(f"fixing {finding.check}: {finding.fix}")
                assert finding.apply is not None
                finding.apply()
                applied.append(f"{finding.check}: {finding.fix}")
                steps.advance()
            if applied:
                steps.step("checking again")
                findings = run_checks(env, timeout_ms=timeout, regenerate=False)
    problems = [f for f in findings if f.status == "fail"]
    if as_json:
        out.json({"ok": not problems, "applied": applied, "findings": [f.to_json() for f in findings]})
    else:
        for line in applied:
            out.line(f"fixed: {line}", style="green")
        _print_findings(out, findings)
        fixable = [f for f in findings if f.apply is not None and f.status in ("warn", "fail")]
        summary = f"{len(problems)} problem(s), {sum(f.status == 'warn' for f in findings)} warning(s)"
        out.line(summary + (f"; `{command('doctor --fix')}` fixes " + str(len(fixable)) + " of them" if fixable else ""),
                 style="bold red" if problems else "green")
    raise SystemExit(1 if problems else 0)

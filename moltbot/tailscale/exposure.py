"""``tailscale serve`` / ``tailscale funnel`` for the gateway port: set up at start, reset at exit.

Theory of operation. ``moltbot gateway --tailscale serve|funnel`` (or ``gateway.tailscale.mode``) asks the
``tailscale`` CLI, once the gateway listens, to publish its port: ``tailscale serve --bg --yes <port>``
(HTTPS on the tailnet, ``https://<host>.<tailnet>.ts.net/``, with Tailscale identity headers) or ``tailscale
funnel --bg --yes <port>`` (the same, reachable from the internet). ``--bg`` makes the setting tailscaled's,
so it outlives us unless ``--tailscale-reset-on-exit`` (``gateway.tailscale.resetOnExit``) runs
``tailscale serve reset`` / ``funnel reset`` when the gateway stops. As in the original, a failure to
publish does not stop the gateway (it still serves loopback): it is reported, with what to do. What can
be checked before is: the CLI exists (``PATH``, the macOS app, or ``MOLTBOT_TAILSCALE_CLI``) and tailscaled
answers and is logged in (its LocalAPI ``status``).

The CLI path comes from the environment, never from the config file: a config value that names a program
the gateway runs is a hole (CVE-2026-25593 class), and ``MOLTBOT_TAILSCALE_CLI`` is what tests point at a
fake script. Every run of the CLI is bounded (``CLI_TIMEOUT``) and its output is cut to a few lines.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

import attrs
import trio

from .localapi import LocalApi, LocalApiError

log = logging.getLogger("moltbot.tailscale")

CLI_ENV = "MOLTBOT_TAILSCALE_CLI"
MACOS_APP_CLI = "/Applications/Tailscale.app/Contents/MacOS/Tailscale"
CLI_TIMEOUT = 15.0  # the original's timeout for serve/funnel
RESET_TIMEOUT = 10.0
MAX_OUTPUT = 2000
Mode = Literal["off", "serve", "funnel"]


class TailscaleError(Exception):
    """The tailscale CLI or daemon could not do what was asked (the message says what to do)."""


@attrs.frozen
class Exposure:
    """What to publish: ``mode`` for the gateway port, reset at exit or not."""

    mode: Mode
    reset_on_exit: bool = False
    socket: str | None = None  # tailscaled's LocalAPI socket, to check the daemon first and name the URL
    cli: str | None = None


def find_cli(env: Mapping[str, str]) -> str | None:
    """The ``tailscale`` CLI: ``MOLTBOT_TAILSCALE_CLI``, else ``tailscale`` on ``PATH``, else the macOS app's."""
    override = env.get(CLI_ENV)
    if override:
        return override
    found = shutil.which("tailscale", path=env.get("PATH"))
    if found:
        return found
    return MACOS_APP_CLI if os.path.exists(MACOS_APP_CLI) else None


def _tail(text: bytes) -> str:
    lines = text.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-6:])[-MAX_OUTPUT:]


async def run_cli(cli: str, *args: str, seconds: float = CLI_TIMEOUT) -> str:
    """Run ``cli args…`` and return its output; ``TailscaleError`` (with its last lines) when it fails."""
    try:
        with trio.fail_after(seconds):
            result = await trio.run_process([cli, *args], capture_stdout=True, capture_stderr=True, check=False,
                                            stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise TailscaleError(f"the tailscale CLI is not at {cli} (install Tailscale, or set {CLI_ENV})") from None
    except PermissionError:
        raise TailscaleError(f"the tailscale CLI at {cli} cannot be run (permission denied)") from None
    except trio.TooSlowError:
        raise TailscaleError(f"`tailscale {' '.join(args)}` did not finish within {seconds:g} s") from None
    output = _tail(result.stdout + b"\n" + result.stderr)
    if result.returncode != 0:
        hint = _hint(output)
        raise TailscaleError(f"`tailscale {' '.join(args)}` failed (exit {result.returncode}): {output}{hint}")
    return output


def _hint(output: str) -> str:
    lowered = output.lower()
    if "access denied" in lowered or "permission denied" in lowered or "must be root" in lowered:
        return "\n  fix: run `sudo tailscale set --operator=$USER` once, so serve/funnel work without sudo"
    if "funnel" in lowered and "not enabled" in lowered:
        return "\n  fix: allow Funnel for this device in the tailnet policy (https://tailscale.com/kb/1223/funnel)"
    if "serve" in lowered and "not enabled" in lowered:
        return "\n  fix: enable HTTPS certificates and Serve for the tailnet in the admin console"
    return ""


async def check_daemon(socket: str) -> str | None:
    """tailscaled answers on ``socket`` and is logged in: its DNS name (``host.tailnet.ts.net``), else None
    when it has none. Raises ``TailscaleError`` saying what is wrong."""
    try:
        status = await LocalApi(socket).status()
    except LocalApiError as exc:
        raise TailscaleError(f"tailscaled is not reachable: {exc}") from None
    state = status.get("BackendState")
    if state != "Running":
        raise TailscaleError(f"tailscaled is {state or 'not running'}, not Running (log in with `tailscale up`)")
    own = status.get("Self")
    name = own.get("DNSName") if isinstance(own, dict) else None
    return name.rstrip(".") if isinstance(name, str) and name else None


async def publish(exposure: Exposure, port: int) -> str:
    """Run ``tailscale serve|funnel --bg --yes <port>``; return the line to show (with the URL when known)."""
    if exposure.cli is None:
        raise TailscaleError("the tailscale CLI was not found on PATH (install Tailscale, or set "
                             f"{CLI_ENV} to its path); the gateway still serves loopback")
    name = await check_daemon(exposure.socket) if exposure.socket else None
    await run_cli(exposure.cli, exposure.mode, "--bg", "--yes", str(port))
    where = f": https://{name}/ (WebSocket wss://{name})" if name else ""
    return f"tailscale {exposure.mode} enabled for port {port}{where}"


async def reset(exposure: Exposure) -> None:
    """``tailscale serve reset`` / ``funnel reset`` (bounded)."""
    assert exposure.cli is not None
    await run_cli(exposure.cli, exposure.mode, "reset", seconds=RESET_TIMEOUT)


async def run_exposed(run: Callable[[Callable[[int], None]], Awaitable[None]], exposure: Exposure, *,
                      report: Callable[[str], None]) -> None:
    """Run ``run(on_listening)`` (the gateway); publish its port once ``on_listening(port)`` is called, and
    reset at the end when asked. ``report`` shows a line to the user; a failure to publish is a warning
    in the log (the console shows it), and never stops the gateway.

    Cancellation: the reset runs shielded, bounded by ``RESET_TIMEOUT``, after ``run`` returned or failed.
    """
    published = False
    send, receive = trio.open_memory_channel[int](1)

    def on_listening(port: int) -> None:
        try:
            send.send_nowait(port)
        except trio.WouldBlock:  # a later move of the listener: the first port stays published
            pass

    async def publish_when_listening() -> None:
        nonlocal published
        port = await receive.receive()
        try:
            report(await publish(exposure, port))
            published = True
        except TailscaleError as exc:  # the console shows warnings: a report too would say it twice
            log.warning("tailscale %s failed: %s", exposure.mode, exc)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(publish_when_listening)
            await run(on_listening)
            nursery.cancel_scope.cancel()
    finally:
        if published and exposure.reset_on_exit:
            with trio.CancelScope(shield=True):
                try:
                    await reset(exposure)
                    report(f"tailscale {exposure.mode} reset")
                except TailscaleError as exc:
                    report(f"tailscale {exposure.mode} cleanup failed: {exc}")

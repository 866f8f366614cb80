"""Browser profiles from the config: names, drivers, user data dirs and CDP ports.

A profile is a named way to reach a browser. ``moltbot`` (the default; ``clawd`` and ``openclaw`` are the
original's names for the same thing and accepted in config) is a Chromium this gateway starts with its
own user data dir ``<state>/browser/<name>/user-data`` (0700) and CDP port. ``browser.profiles.<name>``
adds more: with ``cdpUrl`` the profile attaches to a browser someone else runs; with ``driver:
"extension"`` it drives the tabs a browser extension attached to the relay (``relay.py``). ``chrome`` is
that extension profile, added as the original does when nothing else uses the name.

CDP ports (stable per profile, collisions detected): a configured ``cdpPort`` is used as it is. Others
are allocated once in the CDP range (``browser.cdpPortRange``, default control + 9 … + 108) and kept in
``<state>/browser/ports.json``, so a profile keeps its port across restarts and config edits; a new
profile takes the lowest port no other profile holds. At launch, a port that another process already
listens on is skipped for that run (the next free one in the range, logged), so two gateways or a
stray process never make a launch fail or attach to the wrong browser.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from ..config.model import BrowserConfig, BrowserProfileConfig
from ..store.atomic import write_atomic

log = logging.getLogger("moltbot.browser")

DEFAULT_PROFILE = "moltbot"
ALIASES = ("clawd", "openclaw")  # the original's default profile names: the same managed browser
EXTENSION_PROFILE = "chrome"
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
DEFAULT_COLOR = "#FF4500"

Driver = Literal["managed", "remote", "extension"]


class ProfileError(Exception):
    """An unknown or invalid profile, or no CDP port left: the message says which and why."""


@attrs.frozen
class ProfileSpec:
    name: str
    driver: Driver
    cdp_url: str | None  # remote: the browser's http(s) base; extension: the relay's
    cdp_port: int | None  # managed: the configured port (None: allocated in the range)
    color: str
    headless: bool
    executable_path: str | None
    user_data_dir: Path | None


def is_valid_name(name: str) -> bool:
    return bool(PROFILE_NAME.fullmatch(name))


def _cdp_base(url: str, where: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ProfileError(f"{where} must be an http(s) or ws(s) URL with a host")
    return url.strip().rstrip("/")


def default_headless(config: BrowserConfig, env: dict[str, str]) -> bool:
    if config.headless is not None:
        return config.headless
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def resolve_profiles(
    config: BrowserConfig, *, state_dir: Path | None, relay_port: int, env: dict[str, str]
) -> dict[str, ProfileSpec]:
    """Every profile the config names, plus ``moltbot`` and ``chrome``; invalid entries are skipped
    with a warning (one bad profile must not take the others down)."""
    headless = default_headless(config, env)
    entries: dict[str, BrowserProfileConfig] = {}
    for name, entry in config.profiles.items():
        if name in ALIASES:
            name = DEFAULT_PROFILE
        if not is_valid_name(name):
            log.warning(
                "browser.profiles.%s: invalid name (lowercase letters, digits and '-'); skipped", name[:64]
            )
            continue
        entries[name] = entry
    entries.setdefault(DEFAULT_PROFILE, BrowserProfileConfig())
    if EXTENSION_PROFILE not in entries and relay_port:
        entries[EXTENSION_PROFILE] = BrowserProfileConfig(driver="extension", color="#00AA00")
    specs = {}
    for name, entry in entries.items():
        try:
            specs[name] = _spec(
                name, entry, config, state_dir=state_dir, relay_port=relay_port, headless=headless
            )
        except ProfileError as exc:
            log.warning("browser.profiles.%s: %s; skipped", name, exc)
    return specs


def _spec(
    name: str,
    entry: BrowserProfileConfig,
    config: BrowserConfig,
    *,
    state_dir: Path | None,
    relay_port: int,
    headless: bool,
) -> ProfileSpec:
    color = entry.color or config.color or DEFAULT_COLOR
    common: dict[str, Any] = {
        "name": name,
        "color": color,
        "headless": headless if entry.headless is None else entry.headless,
        "executable_path": entry.executable_path or config.executable_path,
    }
    if entry.driver == "extension":
        url = (
            _cdp_base(entry.cdp_url, f"browser.profiles.{name}.cdpUrl")
            if entry.cdp_url
            else f"http://127.0.0.1:{relay_port}"
        )
        return ProfileSpec(driver="extension", cdp_url=url, cdp_port=None, user_data_dir=None, **common)
    if entry.cdp_url:
        return ProfileSpec(
            driver="remote",
            cdp_url=_cdp_base(entry.cdp_url, f"browser.profiles.{name}.cdpUrl"),
            cdp_port=None,
            user_data_dir=None,
            **common,
        )
    if config.attach_only:
        port = entry.cdp_port
        if not port:
            raise ProfileError("browser.attachOnly needs a cdpPort or cdpUrl")
        return ProfileSpec(
            driver="remote", cdp_url=f"http://127.0.0.1:{port}", cdp_port=port, user_data_dir=None, **common
        )
    if state_dir is None:
        raise ProfileError("a managed profile needs a state directory for its user data")
    if entry.cdp_port is not None and not 1 <= entry.cdp_port <= 65535:
        raise ProfileError(f"cdpPort {entry.cdp_port} is not a port")
    return ProfileSpec(
        driver="managed",
        cdp_url=None,
        cdp_port=entry.cdp_port,
        user_data_dir=Path(state_dir) / "browser" / name / "user-data",
        **common,
    )


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on ``host:port`` (a bind without SO_REUSEADDR succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class PortBook:
    """The CDP ports profiles hold, kept in ``ports.json`` (None: in memory only). Blocking file I/O:
    call from a worker thread."""

    def __init__(self, path: Path | None, cdp_range: tuple[int, int]) -> None:
        self.path = path
        self.range = cdp_range
        self.ports: dict[str, int] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text())
                self.ports = {
                    k: v
                    for k, v in data.get("ports", {}).items()
                    if isinstance(k, str) and isinstance(v, int)
                }
            except (OSError, ValueError, AttributeError):
                self.ports = {}

    def port_for(self, spec: ProfileSpec, specs: dict[str, ProfileSpec], *, in_use: set[int]) -> int:
        """The port ``spec`` launches on: its configured one, else its booked one if free, else the
        lowest free port of the range nobody else holds (booked when it was not booked before).

        Raises:
            ProfileError: the configured port is busy, or no port of the range is left.
        """
        if spec.cdp_port is not None:
            if spec.cdp_port not in in_use and not port_free(spec.cdp_port):
                raise ProfileError(
                    f"cdpPort {spec.cdp_port} of profile {spec.name} is in use by another process"
                )
            return spec.cdp_port
        start, end = self.range
        held = (
            {p.cdp_port for p in specs.values() if p.cdp_port}
            | {port for name, port in self.ports.items() if name != spec.name}
            | in_use
        )
        booked = self.ports.get(spec.name)
        if booked is not None and start <= booked <= end and booked not in held:
            if port_free(booked):
                return booked
            log.warning(
                "browser profile %s: CDP port %d is taken by another process; using another for this run",
                spec.name,
                booked,
            )
        for port in range(start, end + 1):
            if port in held or port == booked or not port_free(port):
                continue
            if booked is None or not start <= booked <= end:
                self.ports[spec.name] = port
                self._save()
            return port
        raise ProfileError(f"no free CDP port left in {start}-{end} for profile {spec.name}")

    def _save(self) -> None:
        if self.path is not None:
            write_atomic(self.path, json.dumps({"ports": self.ports}, indent=2) + "\n")


def chromium_argv(
    spec: ProfileSpec, port: int, *, executable: str, no_sandbox: bool, extra: list[str]
) -> list[str]:
    """The command line of a managed profile's Chromium: its own data dir and CDP port on loopback, and
    everything that would reach the network by itself (sync, updates, field trials, QUIC) off."""
    assert spec.user_data_dir is not None
    argv = [
        executable,
        f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={spec.user_data_dir}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-default-apps",
        "--disable-features=Translate,MediaRouter",
        "--metrics-recording-only",
        "--password-store=basic",
        "--use-mock-keychain",
    ]
    if spec.headless:
        argv += ["--headless", "--disable-gpu"]
    if no_sandbox:
        argv += ["--no-sandbox"]
    return [*argv, *extra, "about:blank"]


def find_executable(configured: str | None) -> str | None:
    """``configured`` (the profile's or ``browser.executablePath``) when it is an executable, else the
    system's Chromium or Chrome."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for candidate in (
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/usr/bin/google-chrome-stable",
        "/snap/bin/chromium",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    return None

"""Which commands a node may be invoked with (the original's
``node-command-policy.ts``).

The allowlist is the platform's defaults, plus ``gateway.nodes.allowCommands``, minus
``gateway.nodes.denyCommands``. A node's declared commands are filtered to it at connect; an invoke needs
the command both allowlisted and declared, and the refusal names the first rule that failed.
"""

from __future__ import annotations

from collections.abc import Iterable

CANVAS = ("canvas.present", "canvas.hide", "canvas.navigate", "canvas.eval", "canvas.snapshot",
          "canvas.a2ui.push", "canvas.a2ui.pushJSONL", "canvas.a2ui.reset")
CAMERA = ("camera.list", "camera.snap", "camera.clip")
SCREEN = ("screen.record",)
LOCATION = ("location.get",)
SYSTEM = ("system.run", "system.which", "system.notify", "system.execApprovals.get", "system.execApprovals.set",
          "browser.proxy")

PLATFORM_DEFAULTS: dict[str, frozenset[str]] = {
    "ios": frozenset(CANVAS + CAMERA + SCREEN + LOCATION),
    "android": frozenset(CANVAS + CAMERA + SCREEN + LOCATION + ("sms.send",)),
    "macos": frozenset(CANVAS + CAMERA + SCREEN + LOCATION + SYSTEM),
    "linux": frozenset(SYSTEM),
    "windows": frozenset(SYSTEM),
}
PLATFORM_DEFAULTS["unknown"] = frozenset().union(*PLATFORM_DEFAULTS.values())


def platform_id(platform: str | None, device_family: str | None = None) -> str:
    """Normalize a client's platform (then device family) to ios/android/macos/linux/windows/unknown."""
    raw = (platform or "").strip().lower()
    for prefix, name in (("ios", "ios"), ("ipados", "ios"), ("android", "android"), ("mac", "macos"),
                         ("darwin", "macos"), ("win", "windows"), ("linux", "linux")):
        if raw.startswith(prefix):
            return name
    family = (device_family or "").strip().lower()
    for needle, name in (("iphone", "ios"), ("ipad", "ios"), ("ios", "ios"), ("android", "android"),
                         ("mac", "macos"), ("windows", "windows"), ("linux", "linux")):
        if needle in family:
            return name
    return "unknown"


def allowlist(platform: str | None, device_family: str | None, *, allow: Iterable[str] = (),
              deny: Iterable[str] = ()) -> frozenset[str]:
    return (PLATFORM_DEFAULTS[platform_id(platform, device_family)] | frozenset(allow)) - frozenset(deny)


def refusal(command: str, declared: list[str] | None, allowed: frozenset[str]) -> str | None:
    """Why ``command`` may not be invoked on this node, or ``None`` when it may."""
    if command not in allowed:
        return "command not allowlisted"
    if not declared:
        return "node did not declare commands"
    if command not in declared:
        return "command not declared by node"
    return None

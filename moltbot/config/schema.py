"""A JSON Schema (draft 2020-12) of the config file and form hints for editors, from the typed tree.

The schema follows the loader rule by rule (``load.py``): an attrs class is an object whose properties
are the camelCase keys, with ``additionalProperties: true`` because unknown keys are kept (and warned
about); an ``int`` is a non-negative integer; a ``float`` any number; ``X | None`` admits ``null``;
``Literal`` is an ``enum``; simple defaults are given as ``default``. The top level also lists the
original's sections the gateway keeps without reading. ``uiHints`` are keyed by dotted path (``*`` for a
map's entries, ``[]`` for an array's items) and mark every secret (``sensitive``), so a form can mask it.
Both are computed once per process.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import attrs

from .._util import camel
from .model import ORIGINAL_SECTIONS, Config
from .redact import is_secret_key

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_GROUPS = {
    "gateway": "Gateway", "agents": "Agents", "models": "Models", "session": "Sessions", "messages": "Messages",
    "channels": "Channels", "cron": "Cron", "hooks": "Hooks", "canvasHost": "Canvas", "commands": "Commands",
    "logging": "Logging", "env": "Environment", "meta": "Metadata", "browser": "Browser",
}
_HELP = {
    "gateway.port": "Port of the WebSocket control plane and HTTP endpoints (restart needed).",
    "gateway.bind": "Which interfaces to listen on: loopback only, LAN, tailnet, auto or a custom host.",
    "gateway.auth.mode": "How clients authenticate: a shared token or a password.",
    "gateway.auth.token": "Shared secret clients send to connect. The gateway uses it first, "
                          "CLAWDBOT_GATEWAY_TOKEN only as a fallback; a local CLI sends that variable first.",
    "gateway.auth.password": "Password clients send to connect when auth mode is password.",
    "gateway.reload.mode": "What a config file change does: off, restart, hot (no restarts) or hybrid.",
    "gateway.reload.debounceMs": "Quiet time after the last save before the file is reloaded.",
    "gateway.controlUi.enabled": "Serve the Control UI dashboard.",
    "gateway.controlUi.root": "A folder with another Control UI build to serve instead of the bundled dashboard "
                              "(e.g. OpenClaw's dist/control-ui); hashed assets under assets/ are cached for a year.",
    "gateway.controlUi.allowedOrigins": "Browser origins (https://host:port) besides the gateway's own that may "
                                        "open its WebSocket and get CORS answers.",
    "gateway.allowedHosts": "Host names the gateway answers besides loopback and its bound address (behind a "
                            "DNS name or proxy); \".example.com\" also matches subdomains.",
    "agents.defaults.model": "Default model, as provider/model or {primary, fallbacks}.",
    "agents.defaults.workspace": "Directory the agent works in.",
    "agents.defaults.maxConcurrent": "Agent runs allowed at once across sessions.",
    "agents.defaults.timeoutSeconds": "Longest an agent run may take.",
    "agents.defaults.heartbeat.every": "Heartbeat interval (e.g. 30m); 0 disables.",
    "models.providers": "Model providers by id (baseUrl, apiKey, api, models).",
    "models.providers.*.apiKey": "API key of this provider.",
    "channels.telegram.botToken": "Bot token from @BotFather.",
    "channels.telegram.dmPolicy": "Who may message the bot directly: pairing, allowlist, open or disabled.",
    "channels.telegram.allowFrom": "Telegram user ids or @usernames allowed to message the bot.",
    "channels.slack.botToken": "Bot User OAuth Token (xoxb-…) for the Web API.",
    "channels.slack.appToken": "App-Level Token (xapp-…, scope connections:write) for Socket Mode.",
    "channels.slack.signingSecret": "Signing Secret; HTTP Events mode refuses every request without it.",
    "channels.slack.mode": "socket (Socket Mode, default) or http (Events API request URL on the gateway port).",
    "channels.slack.dmPolicy": "Who may message the bot directly: pairing, allowlist, open or disabled.",
    "channels.slack.allowFrom": "Slack user ids (U…) allowed to message the bot.",
    "channels.slack.channels": "Channels by id (C…): allow, requireMention, users, systemPrompt.",
    "cron.enabled": "Run scheduled jobs.",
    "browser.enabled": "Run the browser control service (gateway port + 2) that agents and operators drive "
                       "Chromium through.",
    "browser.executablePath": "The Chromium or Chrome binary (default: the system's chromium).",
    "browser.idleTimeoutMs": "Stop a profile's browser after this long unused (0: never).",
    "browser.ssrfPolicy.allowPrivateNetwork": "Let the browser open loopback and private-network addresses.",
    "hooks.token": "Secret callers of the webhook endpoint must send.",
    "logging.level": "Least severe log level written.",
    "logging.file": "Log file path (default: a dated file under /tmp/moltbot).",
    "commands.restart": ("Restarts from outside the gateway. Unset (the default): SIGUSR1/SIGUSR2 restart it "
                         "in-process, the agent's gateway tool may not. true: both may. false: neither "
                         "(signals are logged and ignored)."),
}
_PLACEHOLDERS = {
    "gateway.port": "18789",
    "agents.defaults.model": "anthropic/claude-sonnet-4-5",
    "agents.defaults.workspace": "~/clawd",
    "channels.telegram.botToken": "123456:ABC-DEF…",
    "models.providers.*.baseUrl": "https://api.openai.com/v1",
    "logging.file": "/tmp/moltbot/moltbot.log",
}
# Ours (protocol timings and limits) and rarely changed knobs: shown under "advanced" in a form.
_ADVANCED = re.compile(
    r"^(gateway\.(handshakeTimeoutMs|tickIntervalMs|healthRefreshIntervalMs|maxPayload|maxBufferedBytes|maxInFlightRequests|"
    r"restartDrainMs|trustedProxies|tls|tailscale|nodes|http|remote|auth\.rateLimit|customBindHost|allowedHosts)|"
    r"meta|env|messages\.queue|session\.(identityLinks|sendPolicy|store))(\.|\[|$)"
)


_WORDS = {"Api": "API", "Url": "URL", "Ui": "UI", "Tls": "TLS", "Id": "ID", "Ms": "(ms)", "Dm": "DM", "Ca": "CA"}


def _label(key: str) -> str:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key).replace("_", " ").split()
    words = [word if word.isupper() else word.capitalize() for word in words]
    return " ".join(_WORDS.get(word, word) for word in words) or key


def _default(field: attrs.Attribute) -> Any:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()  # type: ignore[union-attr]  # attrs types Factory as a function
    if attrs.has(type(default)) or default is attrs.NOTHING:
        return attrs.NOTHING
    try:
        json.dumps(default)
    except TypeError:
        return attrs.NOTHING
    return default


class _Builder:
    def __init__(self) -> None:
        self.hints: dict[str, dict[str, Any]] = {}

    def hint(self, path: str, key: str, order: int, parent: str | None = None) -> None:
        hint: dict[str, Any] = {"label": _label(key), "order": order}
        top = path.split(".", 1)[0].split("[", 1)[0]
        if top in _GROUPS:
            hint["group"] = _GROUPS[top]
        if path in _HELP:
            hint["help"] = _HELP[path]
        if path in _PLACEHOLDERS:
            hint["placeholder"] = _PLACEHOLDERS[path]
        if _ADVANCED.match(path):
            hint["advanced"] = True
        if is_secret_key(key, parent):
            hint["sensitive"] = True
        self.hints[path] = hint

    def schema(self, tp: Any, path: str) -> dict[str, Any]:
        origin = get_origin(tp)
        if tp is Any:
            return {}
        if origin in (Union, UnionType):
            members = [self.schema(arg, path) for arg in get_args(tp) if arg is not NoneType]
            if NoneType in get_args(tp):
                members.append({"type": "null"})
            return members[0] if len(members) == 1 else {"anyOf": members}
        if origin is Literal:
            return {"enum": list(get_args(tp))}
        if attrs.has(tp):
            return self.object(tp, path)
        if origin is list:
            (item,) = get_args(tp)
            return {"type": "array", "items": self.schema(item, f"{path}[]")}
        if origin is dict:
            _, value = get_args(tp)
            if path.endswith("headers"):  # HTTP headers carry credentials (Authorization)
                self.hints[f"{path}.*"] = {"label": "Header value", "sensitive": True}
            return {"type": "object", "additionalProperties": self.schema(value, f"{path}.*")}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer", "minimum": 0}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        return {}

    def object(self, cls: type, path: str) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        parent = path.rsplit(".", 1)[-1] if path else None
        for order, field in enumerate(attrs.fields(attrs.resolve_types(cls))):
            if field.metadata.get("file") is False:
                continue
            key = field.metadata.get("key") or camel(field.name)
            child = f"{path}.{key}" if path else key
            schema = self.schema(field.type, child)
            default = _default(field)
            if default is not attrs.NOTHING:
                schema = {**schema, "default": default}
            elif field.default is attrs.NOTHING:
                required.append(key)
            properties[key] = schema
            self.hint(child, key, order, parent)
        result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": True}
        if required:
            result["required"] = required
        if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
            result["description"] = cls.__doc__.strip().splitlines()[0]
        return result


@functools.cache
def _build() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    builder = _Builder()
    schema = builder.object(Config, "")
    schema.pop("description", None)
    for section in sorted(ORIGINAL_SECTIONS - {"$schema"}):
        schema["properties"].setdefault(section, {"description": "kept as written; not read by this gateway"})
    schema["properties"]["$schema"] = {"type": "string"}
    schema = {"$schema": DIALECT, "title": "Moltbot config (moltbot.json, JSON5)", **schema}
    return schema, builder.hints


@functools.cache
def config_schema(version: str) -> dict[str, Any]:
    """``config.schema``'s result: ``{schema, uiHints, version, generatedAt}``, computed once per version."""
    schema, hints = _build()
    return {"schema": schema, "uiHints": hints, "version": version,
            "generatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}

"""Which provider serves a ``"provider/model"`` reference, built from the config and the environment.

Built-in ids need no config: ``openai``, ``anthropic``, ``openrouter`` (each with its usual API key
variable) and ``ollama`` (local, no key). A ``models.providers.<id>`` entry overrides a built-in's
``baseUrl`` / ``apiKey`` / ``headers`` / ``models`` or defines a new provider (``baseUrl`` required;
``api`` picks the wire format, OpenAI-compatible by default). Keys come from the config first, then from
the environment (the built-in variable, else ``<ID>_API_KEY``). With no model configured, the offline
``echo`` provider answers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from moltbot.config.model import Config, ModelProviderConfig, ModelRef

from .base import ModelInfo, Provider, ProviderError
from .echo import EchoProvider

if TYPE_CHECKING:  # the HTTP providers (and httpx) are imported when one is built
    import httpx

    from .http import HttpSettings

ECHO_MODEL = "echo/echo"
OPENAI_APIS = frozenset({"openai-completions", "openai-chat", "openai"})
ANTHROPIC_APIS = frozenset({"anthropic-messages", "anthropic"})


@attrs.frozen
class Builtin:
    api: str
    base_url: str
    env_key: str | None
    key_required: bool = True


BUILTINS: dict[str, Builtin] = {
    "openai": Builtin("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": Builtin("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "openrouter": Builtin("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "ollama": Builtin("openai", "http://127.0.0.1:11434/v1", "OLLAMA_API_KEY", key_required=False),
}


class ProviderConfigError(ProviderError):
    """A model reference or provider entry that cannot be used; the message names what is missing."""


def _env_key_name(provider_id: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", provider_id.upper()).strip("_") + "_API_KEY"


def _model_infos(provider_id: str, entries: list[Any]) -> list[ModelInfo]:
    """``models: [{id, name, contextWindow, reasoning} | "id"]`` → ``ModelInfo`` (unreadable entries skipped)."""
    infos = []
    for entry in entries:
        if isinstance(entry, str):
            infos.append(ModelInfo(id=entry, name=entry, provider=provider_id))
        elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
            window = entry.get("contextWindow")
            reasoning = entry.get("reasoning")
            infos.append(ModelInfo(id=entry["id"], name=str(entry.get("name") or entry["id"]),
                                   provider=provider_id,
                                   context_window=window if isinstance(window, int) else None,
                                   reasoning=reasoning if isinstance(reasoning, bool) else None))
    return infos


def build_provider(provider_id: str, config: Config, env: Mapping[str, str] | None = None, *,
                   client: httpx.AsyncClient | None = None,
                   settings: HttpSettings | None = None) -> Provider:
    """The provider for one id.

    Raises:
        ProviderConfigError: unknown id, no ``baseUrl`` for a custom id, unsupported ``api``, or no API
            key for a built-in that needs one. The key itself never appears in the message.
    """
    env = os.environ if env is None else env
    if provider_id == "echo":
        return EchoProvider()
    entry = config.models.providers.get(provider_id, ModelProviderConfig())
    builtin = BUILTINS.get(provider_id)
    if builtin is None and provider_id not in config.models.providers:
        known = ", ".join(sorted({"echo", *BUILTINS, *config.models.providers}))
        raise ProviderConfigError(f'unknown model provider "{provider_id}": add models.providers.{provider_id} '
                                  f"(baseUrl, api, apiKey) or use one of: {known}")
    base_url = entry.base_url or (builtin.base_url if builtin else None)
    if not base_url:
        raise ProviderConfigError(f'model provider "{provider_id}" needs a base URL: '
                                  f"set models.providers.{provider_id}.baseUrl")
    api = entry.api or (builtin.api if builtin else "openai-completions")
    env_name = builtin.env_key if builtin and builtin.env_key else _env_key_name(provider_id)
    api_key = entry.api_key or env.get(env_name) or None
    if api_key is None and builtin is not None and builtin.key_required and not entry.base_url:
        raise ProviderConfigError(f'model provider "{provider_id}" needs an API key: '
                                  f"set models.providers.{provider_id}.apiKey or {env_name}")
    from .http import DEFAULT_SETTINGS

    options: dict[str, Any] = dict(models=_model_infos(provider_id, entry.models), headers=entry.headers,
                                   client=client, settings=settings or DEFAULT_SETTINGS)
    if api in OPENAI_APIS:
        from .openai import OpenAIChatProvider

        return OpenAIChatProvider(provider_id, base_url, api_key, **options)
    if api in ANTHROPIC_APIS:
        from .anthropic import AnthropicProvider

        return AnthropicProvider(provider_id, base_url, api_key, **options)
    raise ProviderConfigError(f'model provider "{provider_id}": api "{api}" is not supported '
                              '(use "openai-completions" or "anthropic-messages")')


def build_providers(config: Config, env: Mapping[str, str] | None = None, *,
                    client: httpx.AsyncClient | None = None,
                    settings: HttpSettings | None = None) -> dict[str, Provider]:
    """Every usable provider by id: echo, the built-ins that have their key, and each configured entry.

    Entries that cannot be built are left out here; ``resolve_model`` names the problem when a model
    reference needs one of them (``build_provider`` raises it directly).
    """
    providers: dict[str, Provider] = {}
    for provider_id in ("echo", *BUILTINS, *config.models.providers):
        try:
            providers[provider_id] = build_provider(provider_id, config, env, client=client, settings=settings)
        except ProviderConfigError:
            continue
    return providers


def model_refs(config: Config, agent_model: ModelRef | str | None = None) -> list[str]:
    """The ``"provider/model"`` references to try in order: primary then fallbacks (``echo/echo`` if none)."""
    model = agent_model if agent_model is not None else config.agents.defaults.model
    if isinstance(model, ModelRef):
        refs = [model.primary, *model.fallbacks] if model.primary else list(model.fallbacks)
    else:
        refs = [model] if model else []
    return [ref for ref in refs if ref] or [ECHO_MODEL]


def split_model_ref(ref: str) -> tuple[str, str]:
    """``"openrouter/anthropic/claude-3.5-sonnet"`` → ``("openrouter", "anthropic/claude-3.5-sonnet")``."""
    provider_id, slash, model = ref.strip().partition("/")
    if ref.strip() == "echo":
        return "echo", "echo"
    if not slash or not provider_id or not model:
        raise ProviderConfigError(f'model "{ref}" must be written "provider/model" (e.g. "openai/gpt-4o")')
    return provider_id, model


def resolve_model(config: Config, agent_model: ModelRef | str | None = None,
                  env: Mapping[str, str] | None = None, *,
                  providers: Mapping[str, Provider] | None = None) -> tuple[Provider, str]:
    """The provider and model name for an agent's model (default ``agents.defaults.model``, else echo).

    Args:
        agent_model: a ``"provider/model"`` string or a ``ModelRef`` (its primary is used).
        env: where API keys are looked up (default ``os.environ``).
        providers: already-built providers (from ``build_providers``) to take the provider from.

    Raises:
        ProviderConfigError: a malformed reference, an unknown provider or a missing key/base URL.
    """
    provider_id, model = split_model_ref(model_refs(config, agent_model)[0])
    if providers is not None and provider_id in providers:
        return providers[provider_id], model
    return build_provider(provider_id, config, env), model

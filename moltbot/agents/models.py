"""Which provider and model an agent uses: ``"provider/model"`` references, resolved against the config.

Until a provider is configured (``agents.defaults.model``), every agent talks to the offline ``echo``
model. The HTTP providers are resolved by ``providers.registry`` when it is present.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config.model import Config, ModelRef
from .providers.base import ModelInfo, Provider
from .providers.echo import EchoProvider

_ECHO = EchoProvider()


def model_reference(model: ModelRef | str | None) -> str | None:
    if isinstance(model, ModelRef):
        return model.primary
    return model


def resolve_model(config: Config, model: ModelRef | str | None, env: Mapping[str, str]) -> tuple[Provider, str]:
    """``(provider, model name)`` for a model reference; echo when none is configured.

    Raises:
        ProviderError: the reference names a provider that is unknown or not usable (the message says why).
    """
    reference = model_reference(model)
    if not reference or reference in ("echo", "echo/echo"):
        return _ECHO, "echo"
    from .providers import registry

    return registry.resolve_model(config, reference, env=env)


def list_models(config: Config, env: Mapping[str, str]) -> list[ModelInfo]:
    from .providers import registry

    models = list(_ECHO.models())
    for provider in registry.build_providers(config, env).values():
        models.extend(info for info in provider.models() if info.provider != "echo")
    return models

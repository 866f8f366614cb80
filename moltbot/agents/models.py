"""Which provider and model an agent uses: ``"provider/model"`` references, resolved against the config.

``ModelCatalog`` builds the configured providers once per Runtime, all sharing one ``httpx.AsyncClient``
(a client per call would pay TLS-context creation and a new connection on every turn), and is emptied
when the config changes. Until a provider is configured, every agent talks to the offline echo model.
The client (and httpx, and its TLS context with the CA bundle: ~0.1 s and ~13 MiB) is made when the
providers are first built inside ``open()``, not when the Runtime starts, and closed when ``open()`` ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from ..config.model import Config, ModelRef
from .providers import registry
from .providers.base import ModelInfo, Provider
from .providers.echo import EchoProvider

if TYPE_CHECKING:
    import httpx

_ECHO = EchoProvider()


def model_reference(model: ModelRef | str | None) -> str | None:
    if isinstance(model, ModelRef):
        return model.primary
    return model


class ModelCatalog:
    def __init__(self, config: Config, env: Mapping[str, str]) -> None:
        self.config = config
        self._env = env
        self.client: httpx.AsyncClient | None = (
            None  # made by ``providers()`` inside ``open()``, closed by it
        )
        self._open = False
        self._providers: dict[str, Provider] | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[None]:
        """While the Runtime runs: providers built now share one client, made with the first of them."""
        self._open = True
        try:
            yield
        finally:
            self._open = False
            client, self.client = self.client, None
            if client is not None:
                await client.aclose()

    def reset(self, config: Config) -> None:
        self.config = config
        self._providers = None

    def providers(self) -> dict[str, Provider]:
        if self._providers is None:
            if self._open and self.client is None:
                import httpx

                from .._tls import client_ssl_context

                self.client = httpx.AsyncClient(timeout=None, verify=client_ssl_context())
            self._providers = registry.build_providers(self.config, self._env, client=self.client)
        return self._providers

    def resolve(self, model: ModelRef | str | None) -> tuple[Provider, str]:
        """``(provider, model name)``; echo when none is configured.

        Raises:
            ProviderError: the reference names a provider that is unknown or not usable (says why).
        """
        reference = model_reference(model)
        if not reference or reference in ("echo", "echo/echo"):
            return _ECHO, "echo"
        return registry.resolve_model(self.config, reference, env=self._env, providers=self.providers())

    def models(self) -> list[ModelInfo]:
        models = list(_ECHO.models())
        for provider in self.providers().values():
            models.extend(info for info in provider.models() if info.provider != "echo")
        return models

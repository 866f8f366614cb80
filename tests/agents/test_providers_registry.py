"""Which provider serves a "provider/model" reference, from the config file's shape and the environment."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from moltbot.agents.providers.anthropic import AnthropicProvider
from moltbot.agents.providers.base import Message, ModelInfo, ModelRequest, TextDelta
from moltbot.agents.providers.echo import EchoProvider
from moltbot.agents.providers.openai import OpenAIChatProvider
from moltbot.agents.providers.registry import (
    ProviderConfigError,
    build_provider,
    build_providers,
    model_refs,
    resolve_model,
)
from moltbot.config.load import parse_config
from moltbot.config.model import Config
from tests.fakes import fail_after
from tests.fakes.anthropic import open_fake_anthropic
from tests.fakes.anthropic import text_reply as anthropic_text
from tests.fakes.openai import open_fake_openai
from tests.fakes.openai import text_reply as openai_text


def config(model: Any = None, providers: dict[str, Any] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if model is not None:
        raw["agents"] = {"defaults": {"model": model}}
    if providers is not None:
        raw["models"] = {"providers": providers}
    return parse_config(raw)


def test_no_model_configured_answers_with_echo():
    provider, model = resolve_model(config(), env={})
    assert isinstance(provider, EchoProvider) and model == "echo"
    assert [info.id for info in provider.models()] == ["echo"]


def test_builtin_openai_takes_its_key_from_the_environment():
    provider, model = resolve_model(config({"primary": "openai/gpt-4o"}), env={"OPENAI_API_KEY": "sk-env"})
    assert isinstance(provider, OpenAIChatProvider)
    assert (provider.id, provider.base_url, model) == ("openai", "https://api.openai.com/v1", "gpt-4o")
    assert provider.models() == []
    assert "sk-env" not in repr(provider)


def test_builtin_without_a_key_names_the_setting_and_the_variable():
    with pytest.raises(ProviderConfigError) as caught:
        resolve_model(config("openai/gpt-4o"), env={})
    assert caught.value.message == ('model provider "openai" needs an API key: '
                                    "set models.providers.openai.apiKey or OPENAI_API_KEY")


@pytest.mark.parametrize(("provider_id", "variable", "kind", "base_url"), [
    ("anthropic", "ANTHROPIC_API_KEY", AnthropicProvider, "https://api.anthropic.com"),
    ("openrouter", "OPENROUTER_API_KEY", OpenAIChatProvider, "https://openrouter.ai/api/v1"),
])
def test_builtin_ids_use_their_usual_variables(provider_id, variable, kind, base_url):
    provider = build_provider(provider_id, config(), {variable: "secret"})
    assert isinstance(provider, kind) and provider.base_url == base_url
    with pytest.raises(ProviderConfigError, match=variable):
        build_provider(provider_id, config(), {})


def test_ollama_needs_no_key():
    provider, model = resolve_model(config("ollama/llama3.2"), env={})
    assert isinstance(provider, OpenAIChatProvider)
    assert (provider.base_url, model) == ("http://127.0.0.1:11434/v1", "llama3.2")


def test_openrouter_model_names_keep_their_slashes():
    _, model = resolve_model(config("openrouter/anthropic/claude-3.5-sonnet"), env={"OPENROUTER_API_KEY": "k"})
    assert model == "anthropic/claude-3.5-sonnet"


def test_config_key_and_base_url_override_a_builtin():
    cfg = config("openai/gpt-4o", {"openai": {"apiKey": "sk-config", "baseUrl": "http://proxy.local/v1/",
                                              "models": [{"id": "gpt-4o", "name": "GPT-4o",
                                                          "contextWindow": 128000}]}})
    provider, _ = resolve_model(cfg, env={"OPENAI_API_KEY": "sk-env"})
    assert provider.base_url == "http://proxy.local/v1"
    assert provider._api_key == "sk-config"
    assert provider.models() == [ModelInfo("gpt-4o", "GPT-4o", "openai", context_window=128000)]


def test_unknown_provider_id_is_named_with_the_known_ones():
    with pytest.raises(ProviderConfigError) as caught:
        resolve_model(config("mistral/large"), env={})
    assert caught.value.message.startswith('unknown model provider "mistral": add models.providers.mistral')
    assert "anthropic, echo, ollama, openai, openrouter" in caught.value.message


def test_custom_provider_needs_a_base_url():
    with pytest.raises(ProviderConfigError) as caught:
        resolve_model(config("lab/m1", {"lab": {"api": "openai-completions"}}), env={})
    assert caught.value.message == 'model provider "lab" needs a base URL: set models.providers.lab.baseUrl'


def test_unsupported_api_is_named():
    with pytest.raises(ProviderConfigError, match='api "google-generative-ai" is not supported'):
        build_provider("g", config(None, {"g": {"baseUrl": "http://x", "api": "google-generative-ai"}}), {})


def test_model_without_a_provider_is_rejected():
    with pytest.raises(ProviderConfigError, match='model "gpt-4o" must be written "provider/model"'):
        resolve_model(config("gpt-4o"), env={})


def test_custom_provider_key_falls_back_to_its_id_variable():
    provider = build_provider("my-lab", config(None, {"my-lab": {"baseUrl": "http://lab/v1"}}),
                              {"MY_LAB_API_KEY": "k"})
    assert isinstance(provider, OpenAIChatProvider) and provider._api_key == "k"


def test_build_providers_lists_the_usable_ones():
    cfg = config(None, {"lab": {"baseUrl": "http://lab/v1", "models": ["m1", "m2"]},
                        "broken": {"api": "openai"}})
    providers = build_providers(cfg, {"ANTHROPIC_API_KEY": "k"})
    assert sorted(providers) == ["anthropic", "echo", "lab", "ollama"]
    assert [info.id for info in providers["lab"].models()] == ["m1", "m2"]


def test_model_refs_lists_primary_then_fallbacks():
    cfg = config({"primary": "anthropic/claude", "fallbacks": ["openai/gpt-4o", "echo/echo"]})
    assert model_refs(cfg) == ["anthropic/claude", "openai/gpt-4o", "echo/echo"]
    assert model_refs(cfg, "ollama/llama3") == ["ollama/llama3"]
    assert model_refs(config()) == ["echo/echo"]


def test_resolve_prefers_already_built_providers():
    echo = EchoProvider()
    provider, model = resolve_model(config("echo/echo"), env={}, providers={"echo": echo})
    assert provider is echo and model == "echo"


async def first_text(provider, model: str) -> str:
    request = ModelRequest(model=model, messages=(Message("user", "hi"),))
    async with aclosing(provider.stream(request)) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, TextDelta):
                return chunk.text
    raise AssertionError("no text")


@fail_after(5)
async def test_configured_openai_compatible_provider_streams_from_its_base_url():
    async with open_fake_openai(openai_text("from vLLM"), api_key="local-key") as fake:
        cfg = config("vllm/qwen", {"vllm": {"baseUrl": fake.base_url, "api": "openai-completions",
                                            "apiKey": "local-key", "headers": {"x-team": "a"}}})
        provider, model = resolve_model(cfg, env={})
        assert await first_text(provider, model) == "from vLLM"
    assert fake.requests[0].json()["model"] == "qwen"
    assert fake.requests[0].headers["x-team"] == "a"


@fail_after(5)
async def test_configured_anthropic_messages_provider_streams_from_its_base_url():
    async with open_fake_anthropic(anthropic_text("from Claude"), api_key="ant-key") as fake:
        cfg = config("proxy/claude-x", {"proxy": {"baseUrl": fake.base_url, "api": "anthropic-messages"}})
        provider, model = resolve_model(cfg, env={"PROXY_API_KEY": "ant-key"})
        assert isinstance(provider, AnthropicProvider)
        assert await first_text(provider, model) == "from Claude"


def test_env_may_be_passed_positionally():
    provider, model = resolve_model(config(), "anthropic/claude-x", {"ANTHROPIC_API_KEY": "k"})
    assert isinstance(provider, AnthropicProvider) and model == "claude-x"

"""OPENCLAW_* and MOLTBOT_* beside CLAWDBOT_*: one precedence (MOLTBOT_ > OPENCLAW_ > CLAWDBOT_), one warning
per conflict (never the values), and every reader (paths, profiles, the gateway's auth, config overrides)
following it."""

from __future__ import annotations

import logging
import os

import pytest
import trio

from moltbot.client import open_gateway_client
from moltbot.config.env import apply_aliases, conflicts, with_aliases
from moltbot.config.load import ConfigError, load_config
from moltbot.config.model import AuthConfig
from moltbot.config.paths import resolve_config_path, resolve_state_dir
from moltbot.config.profiles import apply_profile
from moltbot.gateway.app import open_gateway
from tests.cli.helpers import run_moltbot


def test_openclaw_state_dir_alone_is_the_state_dir(tmp_path):
    env = {"HOME": str(tmp_path), "OPENCLAW_STATE_DIR": "/srv/oc"}
    assert resolve_state_dir(env).as_posix() == "/srv/oc"
    assert resolve_config_path(env).as_posix() == "/srv/oc/moltbot.json"


def test_moltbot_beats_openclaw_beats_clawdbot(tmp_path):
    home = {"HOME": str(tmp_path)}
    both = {**home, "OPENCLAW_STATE_DIR": "/o", "CLAWDBOT_STATE_DIR": "/c"}
    assert resolve_state_dir(both).as_posix() == "/o"
    assert resolve_state_dir({**both, "MOLTBOT_STATE_DIR": "/m"}).as_posix() == "/m"
    assert resolve_config_path({**home, "OPENCLAW_CONFIG_PATH": "/o.json", "CLAWDBOT_CONFIG_PATH": "/c.json"}
                               ).as_posix() == "/o.json"


def test_empty_variable_counts_as_unset(tmp_path):
    env = {"HOME": str(tmp_path), "MOLTBOT_STATE_DIR": "", "OPENCLAW_STATE_DIR": "/o"}
    assert resolve_state_dir(env).as_posix() == "/o"


def test_aliases_write_the_winner_under_the_name_our_code_reads():
    env = {"OPENCLAW_GATEWAY_TOKEN": "t-open", "OPENCLAW_DISABLE_BONJOUR": "1", "OPENCLAW_GATEWAY_PORT": "19999",
           "OPENCLAW_SKIP_CRON": "1", "MOLTBOT_ALLOW_MULTI_GATEWAY": "1"}
    apply_aliases(env)
    assert env["CLAWDBOT_GATEWAY_TOKEN"] == "t-open" and env["CLAWDBOT_DISABLE_BONJOUR"] == "1"
    assert env["CLAWDBOT_GATEWAY_PORT"] == "19999" and env["CLAWDBOT_SKIP_CRON"] == "1"
    assert env["CLAWDBOT_ALLOW_MULTI_GATEWAY"] == "1"
    assert with_aliases(env) == env  # applying twice changes nothing


def test_conflict_is_logged_once_naming_the_variables_not_the_values(caplog):
    env = {"OPENCLAW_GATEWAY_PASSWORD": "secret-one-1234", "CLAWDBOT_GATEWAY_PASSWORD": "secret-two-5678"}
    with caplog.at_level(logging.WARNING, logger="moltbot.config"):
        apply_aliases(dict(env))
        apply_aliases(dict(env))
        apply_aliases(env)
        apply_aliases(env)  # CLAWDBOT_ now holds the winner: still the same conflict, not a new one
    messages = [record.getMessage() for record in caplog.records if "GATEWAY_PASSWORD" in record.getMessage()]
    assert messages == ["environment: OPENCLAW_GATEWAY_PASSWORD and CLAWDBOT_GATEWAY_PASSWORD are set to different "
                        "values; using OPENCLAW_GATEWAY_PASSWORD (MOLTBOT_* > OPENCLAW_* > CLAWDBOT_*)"]
    assert "secret" not in caplog.text
    assert env["CLAWDBOT_GATEWAY_PASSWORD"] == "secret-one-1234"


def test_a_conflict_whose_loser_is_the_canonical_name_is_logged_once_too(caplog):
    env = {"MOLTBOT_GATEWAY_TOKEN": "tok-one-1234", "OPENCLAW_GATEWAY_TOKEN": "tok-two-5678"}
    with caplog.at_level(logging.WARNING, logger="moltbot.config"):
        apply_aliases(env)  # writes CLAWDBOT_GATEWAY_TOKEN: now three names are set
        apply_aliases(env)
        with_aliases(env)
    assert [r.getMessage() for r in caplog.records if "GATEWAY_TOKEN" in r.getMessage()] == [
        "environment: MOLTBOT_GATEWAY_TOKEN and OPENCLAW_GATEWAY_TOKEN are set to different values; using "
        "MOLTBOT_GATEWAY_TOKEN (MOLTBOT_* > OPENCLAW_* > CLAWDBOT_*)"]
    assert env["CLAWDBOT_GATEWAY_TOKEN"] == "tok-one-1234" and "tok-" not in caplog.text


def test_equal_values_are_no_conflict():
    assert conflicts({"OPENCLAW_GATEWAY_PORT": "1", "CLAWDBOT_GATEWAY_PORT": "1"}) == []


def test_openclaw_home_replaces_home_for_path_defaults(tmp_path):
    env = {"HOME": str(tmp_path / "h"), "OPENCLAW_HOME": str(tmp_path / "oh")}
    assert resolve_state_dir(env) == tmp_path / "oh" / ".clawdbot"
    apply_profile("work", env)
    assert env["CLAWDBOT_STATE_DIR"] == str(tmp_path / "oh" / ".clawdbot-work")


def test_profile_fills_nothing_an_openclaw_variable_sets(tmp_path):
    env = {"HOME": str(tmp_path), "OPENCLAW_STATE_DIR": "/o", "OPENCLAW_GATEWAY_PORT": "1234"}
    apply_profile("dev", env)
    assert "CLAWDBOT_STATE_DIR" not in env and "CLAWDBOT_GATEWAY_PORT" not in env
    assert env["CLAWDBOT_CONFIG_PATH"] == "/o/moltbot.json" and resolve_state_dir(env).as_posix() == "/o"


def test_openclaw_profile_isolates_the_cli(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_", "OPENCLAW_"))}
    env.update(HOME=str(tmp_path), OPENCLAW_PROFILE="work")
    (tmp_path / ".clawdbot-work").mkdir()
    (tmp_path / ".clawdbot-work" / "moltbot.json").write_text('{"gateway": {"port": 23456}}')
    result = run_moltbot(env, "config", "get", "gateway.port")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "23456"


def test_log_level_and_handshake_timeout_variables_override_the_file(tmp_path):
    path = tmp_path / "moltbot.json"
    path.write_text('{"gateway": {"handshakeTimeoutMs": 9000}, "logging": {"level": "info"}}')
    config = load_config(path, env={"OPENCLAW_HANDSHAKE_TIMEOUT_MS": "15000", "OPENCLAW_LOG_LEVEL": "DEBUG"})
    assert config.gateway.handshake_timeout_ms == 15000 and config.logging.level == "debug"
    assert load_config(path, env={}).gateway.handshake_timeout_ms == 9000


def test_bad_override_value_is_a_config_error_naming_the_variable(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.json", env={"OPENCLAW_HANDSHAKE_TIMEOUT_MS": "soon", "MOLTBOT_LOG_LEVEL": "loud"})
    assert caught.value.problems == ["MOLTBOT_LOG_LEVEL: must be one of debug, info, warn, warning, error",
                                     "OPENCLAW_HANDSHAKE_TIMEOUT_MS: must be a whole number of milliseconds 1..600000"]


async def test_gateway_takes_its_token_from_openclaw_gateway_token(make_config):
    config = make_config(auth=AuthConfig(mode="token"))
    with trio.fail_after(10):
        async with open_gateway(config, port=0, env={"OPENCLAW_GATEWAY_TOKEN": "oc-token-0123456789"}) as gateway:
            async with open_gateway_client(gateway.url, token="oc-token-0123456789") as client:
                assert (await client.call("health"))["ok"]

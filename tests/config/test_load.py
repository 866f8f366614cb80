"""Config loading: JSON5, $include, env block, ${VAR}, typed tree, errors with paths and lines."""

import json

import pytest

from moltbot.config.load import ConfigError, load_config
from moltbot.config.paths import resolve_config_path, resolve_state_dir

ORIGINAL_FILE = """
{
  // written by the original's onboarding wizard
  gateway: { mode: "local", bind: "loopback", port: 18789, auth: { mode: "token", token: "abc" },
             controlUi: { enabled: true }, reload: { mode: "hybrid", debounceMs: 300 },
             tailscale: { mode: "off", resetOnExit: false }, remote: { url: "ws://x:1" } },
  agents: { defaults: { model: { primary: "anthropic/claude-opus-4-5" }, workspace: "~/clawd",
                        heartbeat: { every: "1h" } },
            list: [ { id: "main", default: true, identity: { name: "Molty", emoji: "🦞" } } ] },
  channels: { telegram: { enabled: true, botToken: "123:abc", dmPolicy: "pairing", allowFrom: ["tg:1", 2] } },
  models: { providers: { ollama: { baseUrl: "http://127.0.0.1:11434/v1", api: "openai-completions" } } },
  commands: { restart: true },
  update: { checkOnStart: false },
  wizard: { lastRunAt: "2026-01-01" },
  meta: { lastTouchedVersion: "2026.1.24", lastTouchedAt: "2026-01-02T00:00:00Z" },
}
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_file_from_the_original_loads_unchanged(tmp_path):
    config = load_config(write(tmp_path / "moltbot.json", ORIGINAL_FILE), env={})
    assert config.gateway.auth.token == "abc" and config.gateway.mode == "local"
    assert config.agents.entries[0].identity.emoji == "🦞"
    assert config.channels.telegram.allow_from == ["tg:1", 2]
    assert config.commands.restart is True
    assert config.raw["update"] == {"checkOnStart": False}  # kept although not typed
    assert config.warnings == ()


def test_missing_file_is_an_empty_config_with_defaults(tmp_path):
    config = load_config(tmp_path / "none.json", env={})
    assert config.gateway.port == 18789 and config.gateway.reload.mode == "hybrid"
    assert config.gateway.reload.debounce_ms == 300 and config.agents.defaults.max_concurrent == 4
    assert config.gateway.http.endpoints.chat_completions.enabled is False


def test_unknown_keys_are_kept_and_warned_with_line(tmp_path):
    path = write(tmp_path / "c.json", '{\n  gateway: {\n    colour: "blue",\n  },\n}')
    config = load_config(path, env={})
    assert config.raw["gateway"]["colour"] == "blue"
    assert config.warnings == ("gateway.colour (line 3): unknown key (kept, not used)",)


def test_every_problem_is_listed_with_path_and_line(tmp_path):
    path = write(tmp_path / "c.json", '{\n gateway: {\n  port: "x",\n  bind: "moon",\n },\n agents: {list: [{name: 1}]},\n}')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    problems = info.value.problems
    assert problems[0].startswith("gateway.port (line 3): must be a non-negative integer")
    assert problems[1].startswith("gateway.bind (line 4): must be one of")
    assert any(p.startswith("agents.list[0].id (line 6): is required") for p in problems)
    assert str(path) in str(info.value)


def test_port_out_of_range_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="gateway.port"):
        load_config(write(tmp_path / "c.json", "{gateway: {port: 70000}}"), env={})


def test_json5_syntax_error_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="JSON5 parse error"):
        load_config(write(tmp_path / "c.json", "{gateway: {port: }"), env={})


def test_include_merges_deeply_relative_to_the_including_file(tmp_path):
    write(tmp_path / "parts" / "gw.json5", '{gateway: {port: 1234, auth: {token: "t"}}}')
    path = write(tmp_path / "c.json", '{$include: "parts/gw.json5", gateway: {bind: "lan"}}')
    config = load_config(path, env={})
    assert (config.gateway.port, config.gateway.bind, config.gateway.auth.token) == (1234, "lan", "t")


def test_include_cycle_is_an_error_not_a_hang(tmp_path):
    write(tmp_path / "a.json5", '{$include: "b.json5"}')
    write(tmp_path / "b.json5", '{$include: "a.json5"}')
    with pytest.raises(ConfigError, match="nested deeper than 10"):
        load_config(write(tmp_path / "c.json", '{$include: "a.json5"}'), env={})


def test_env_block_fills_unset_variables_before_substitution(tmp_path):
    path = write(tmp_path / "c.json", '{env: {A: "from-file", B: "from-file"}, gateway: {auth: {token: "${A}-${B}"}}}')
    env = {"B": "from-env"}
    config = load_config(path, env=env)
    assert config.gateway.auth.token == "from-file-from-env"
    assert env == {"A": "from-file", "B": "from-env"}


def test_missing_variable_is_an_error_and_double_dollar_escapes(tmp_path):
    with pytest.raises(ConfigError, match="environment variable NOPE is not set"):
        load_config(write(tmp_path / "c.json", '{gateway: {auth: {token: "${NOPE}"}}}'), env={})
    config = load_config(write(tmp_path / "d.json", '{gateway: {auth: {token: "$${KEEP}"}}}'), env={})
    assert config.gateway.auth.token == "${KEEP}"


def test_paths_follow_the_reference_precedence(tmp_path):
    home = {"HOME": str(tmp_path)}
    assert resolve_state_dir(home) == tmp_path / ".clawdbot"
    assert resolve_state_dir({**home, "CLAWDBOT_STATE_DIR": "~/x"}) == tmp_path / "x"
    assert resolve_state_dir({**home, "MOLTBOT_STATE_DIR": "/m", "CLAWDBOT_STATE_DIR": "/c"}).as_posix() == "/m"
    assert resolve_config_path(home) == tmp_path / ".clawdbot" / "moltbot.json"
    write(tmp_path / ".clawdbot" / "clawdbot.json", "{}")
    assert resolve_config_path(home) == tmp_path / ".clawdbot" / "clawdbot.json"
    assert resolve_config_path({**home, "CLAWDBOT_CONFIG_PATH": "/etc/m.json"}).as_posix() == "/etc/m.json"


def test_secrets_are_not_in_the_config_repr(tmp_path):
    config = load_config(write(tmp_path / "c.json", json.dumps(
        {"gateway": {"auth": {"token": "sekrit-1"}}, "channels": {"telegram": {"botToken": "sekrit-2"}}})), env={})
    assert "sekrit" not in repr(config)



"""Which config file and state dir are used when nothing names them: ours and January's first, OpenClaw's
``~/.openclaw/openclaw.json`` last (used, and logged once), and ``~/.openclaw`` never as our state dir."""

from __future__ import annotations

import logging

from moltbot.config.load import load_config
from moltbot.config.paths import config_candidates, resolve_config_path, resolve_state_dir

# The config today's OpenClaw writes for a loopback gateway (as observed in a 2026.9.6 state dir).
OPENCLAW_CONFIG = """{
  // written by start-openclaw.sh (JSON5)
  "gateway": { "mode": "local", "bind": "loopback", "port": 18789, "auth": { "mode": "token", "token": "oc-tok" } },
  "discovery": { "mdns": { "mode": "off" } },
  "models": { "catalogRefresh": { "enabled": false } },
  "telemetry": { "enabled": false }
}
"""


def _openclaw_home(tmp_path):
    (tmp_path / ".openclaw").mkdir()
    path = tmp_path / ".openclaw" / "openclaw.json"
    path.write_text(OPENCLAW_CONFIG)
    return path


def test_config_only_under_openclaw_is_used(tmp_path):
    path = _openclaw_home(tmp_path)
    env = {"HOME": str(tmp_path)}
    assert resolve_config_path(env) == path
    config = load_config(env=env)
    assert config.path == path and config.gateway.auth.token == "oc-tok" and config.gateway.mode == "local"
    assert "telemetry (line 6): unknown key (kept, not used)" in config.warnings


def test_the_openclaw_file_is_logged_once(tmp_path, caplog):
    path = _openclaw_home(tmp_path)
    with caplog.at_level(logging.WARNING, logger="moltbot.config"):
        for _ in range(3):
            resolve_config_path({"HOME": str(tmp_path)})
    assert [record.getMessage() for record in caplog.records if str(path) in record.getMessage()] == [
        f"using OpenClaw's config file {path} (no moltbot.json or clawdbot.json was found; `moltbot migrate` makes "
        "a config of our own)"]


def test_openclaw_dir_is_never_our_default_state_dir(tmp_path):
    _openclaw_home(tmp_path)
    assert resolve_state_dir({"HOME": str(tmp_path)}) == tmp_path / ".clawdbot"


def test_clawdbot_and_moltbot_files_come_before_openclaws(tmp_path):
    _openclaw_home(tmp_path)
    (tmp_path / ".clawdbot").mkdir()
    (tmp_path / ".clawdbot" / "clawdbot.json").write_text("{}")
    assert resolve_config_path({"HOME": str(tmp_path)}) == tmp_path / ".clawdbot" / "clawdbot.json"
    (tmp_path / ".moltbot").mkdir()
    (tmp_path / ".moltbot" / "moltbot.json").write_text("{}")
    assert resolve_config_path({"HOME": str(tmp_path)}) == tmp_path / ".moltbot" / "moltbot.json"


def test_openclaw_state_dir_finds_its_openclaw_json(tmp_path):
    state = tmp_path / "oc-state"
    state.mkdir()
    (state / "openclaw.json").write_text("{}")
    env = {"HOME": str(tmp_path), "OPENCLAW_STATE_DIR": str(state)}
    assert resolve_config_path(env) == state / "openclaw.json"
    (state / "moltbot.json").write_text("{}")
    assert resolve_config_path(env) == state / "moltbot.json"


def test_the_search_order_is_as_documented(tmp_path):
    env = {"HOME": str(tmp_path), "OPENCLAW_STATE_DIR": "/s"}
    assert [p.as_posix().replace(str(tmp_path), "~") for p in config_candidates(env)] == [
        "/s/moltbot.json", "/s/clawdbot.json", "/s/openclaw.json",
        "~/.moltbot/moltbot.json", "~/.moltbot/clawdbot.json", "~/.clawdbot/moltbot.json", "~/.clawdbot/clawdbot.json",
        "~/.openclaw/openclaw.json"]


def test_openclaw_home_moves_the_openclaw_dir_too(tmp_path):
    (tmp_path / "oh").mkdir()
    path = _openclaw_home(tmp_path / "oh")
    assert resolve_config_path({"HOME": str(tmp_path / "h"), "OPENCLAW_HOME": str(tmp_path / "oh")}) == path

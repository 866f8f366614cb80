"""`moltbot config set|unset` (issue 19, item 10): JSON5 values, checked before writing, atomic, comments
kept, what follows said; a running gateway reloads the file and its log confirms a fix."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest
import trio

from moltbot.config.load import parse_json5
from moltbot.config.textedit import set_in_text, unset_in_text
from tests.cli.helpers import run_moltbot, start_gateway

TOKEN = "config-set-token-never-shown-0123456789"
COMMENTED = """// my gateway
{
  // where it listens
  gateway: {
    port: 18789, // the port
    auth: { token: "TOKEN" },
  },
  agents: {defaults: {model: {primary: "echo"}}}
}
""".replace("TOKEN", TOKEN)


@pytest.fixture
def home(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    state = tmp_path / ".clawdbot"
    state.mkdir(mode=0o700)
    return state / "moltbot.json", env


def test_set_changes_the_value_in_place_and_keeps_comments(home):
    path, env = home
    path.write_text(COMMENTED)
    result = run_moltbot(env, "config", "set", "gateway.port", "18790")
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert "port: 18790, // the port" in text and "// where it listens" in text and "// my gateway" in text
    assert f"set gateway.port = 18790 in {path} (was 18789)" in result.stdout
    assert "restarts to apply it (needs a restart: gateway.port)" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.with_name("moltbot.json.bak").read_text() == COMMENTED  # the previous file, kept


def test_set_a_new_key_says_it_is_hot_and_parses_json5(home):
    path, env = home
    path.write_text(COMMENTED)
    result = run_moltbot(env, "config", "set", "cron", "{enabled: false, maxConcurrentRuns: 2}")
    assert result.returncode == 0, result.stderr
    assert parse_json5(path.read_text())["cron"] == {"enabled": False, "maxConcurrentRuns": 2}
    assert "// the port" in path.read_text()
    assert "without a restart (hot reload)" in result.stdout
    plain = run_moltbot(env, "config", "set", "agents.defaults.model.primary", "openai/gpt-4o")
    assert plain.returncode == 0 and 'primary: "openai/gpt-4o"' in path.read_text()


def test_an_invalid_value_is_refused_naming_the_key_and_nothing_is_written(home):
    path, env = home
    path.write_text(COMMENTED)
    result = run_moltbot(env, "config", "set", "gateway.port", '"high"')
    assert result.returncode == 1
    assert "gateway.port (line 5): must be a non-negative integer" in result.stderr
    assert "nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert path.read_text() == COMMENTED


def test_a_bad_path_is_a_usage_error(home):
    path, env = home
    path.write_text(COMMENTED)
    result = run_moltbot(env, "config", "set", "gateway..port", "1")
    assert result.returncode == 2 and "invalid path" in result.stderr


def test_unset_removes_the_line_and_its_comment(home):
    path, env = home
    path.write_text(COMMENTED)
    result = run_moltbot(env, "config", "unset", "gateway.port")
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert "port" not in text and "// where it listens" in text
    assert "removed gateway.port" in result.stdout
    missing = run_moltbot(env, "config", "unset", "gateway.port")
    assert missing.returncode == 1 and "gateway.port is not set" in missing.stderr


def test_a_secret_is_never_printed(home):
    path, env = home
    path.write_text(COMMENTED)
    result = run_moltbot(env, "config", "set", "gateway.auth.token", "another-secret-value-42")
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert "another-secret-value-42" not in result.stdout + result.stderr
    assert "gateway.auth.token = *** " in result.stdout


def test_a_secret_inside_an_object_value_is_never_printed(home):
    path, env = home
    path.write_text(COMMENTED)
    provider = '{baseUrl: "http://127.0.0.1:8000/v1", api: "openai-completions", apiKey: "sk-typed-in-0123"}'
    result = run_moltbot(env, "config", "set", "models.providers.vllm", provider)
    assert result.returncode == 0, result.stderr
    assert "sk-typed-in-0123" not in result.stdout + result.stderr
    assert '"apiKey": "***"' in result.stdout and '"baseUrl": "http://127.0.0.1:8000/v1"' in result.stdout
    assert parse_json5(path.read_text())["models"]["providers"]["vllm"]["apiKey"] == "sk-typed-in-0123"
    removed = run_moltbot(env, "config", "unset", "models.providers.vllm")
    assert removed.returncode == 0 and "sk-typed-in-0123" not in removed.stdout + removed.stderr


def test_set_fixes_an_invalid_file(home):
    path, env = home
    path.write_text(COMMENTED.replace("18789", '"oops"'))
    result = run_moltbot(env, "config", "set", "gateway.port", "18795")
    assert result.returncode == 0, result.stderr
    assert "the file loads again" in result.stdout


@pytest.mark.parametrize(("text", "path", "value", "expected"), [
    ("{}", ("a",), 1, {"a": 1}),
    ("{a: 1,}", ("b",), 2, {"a": 1, "b": 2}),
    ("{a: {b: [1, 2]}}", ("a", "b", 1), 5, {"a": {"b": [1, 5]}}),
    ("{a: 1}", ("x", "y", "z"), True, {"a": 1, "x": {"y": {"z": True}}}),
])
def test_set_in_text_keeps_the_text_valid(text, path, value, expected):
    assert parse_json5(set_in_text(text, path, value)) == expected


def test_unset_in_text_last_member_drops_the_comma():
    assert parse_json5(unset_in_text("{a: 1, b: 2}", ("b",))) == {"a": 1}


def gateway_log(env) -> str:
    log = os.path.join(env["HOME"], ".clawdbot", "logs", "gateway.log")
    with open(log, encoding="utf-8") as file:
        return "\n".join(json.loads(line)["msg"] for line in file if line.strip())


async def wait_for_log(env, needle: str, again=None) -> None:
    """Poll the gateway's log (another process writes it) until ``needle``; ``again()`` is repeated each
    second meanwhile (a change made before the gateway's file watcher runs is not seen)."""
    with trio.move_on_after(30):
        while needle not in gateway_log(env):
            with trio.move_on_after(1):
                while needle not in gateway_log(env):  # noqa: ASYNC110 (a file, bounded)
                    await trio.sleep(0.05)
            if again is not None:
                again()
    assert needle in gateway_log(env), gateway_log(env)


async def test_the_running_gateway_reloads_and_its_log_confirms_the_fix(home):
    path, env = home
    process, _url, _ = await start_gateway(env)
    try:
        raw = parse_json5(path.read_text())
        raw["gateway"]["port"] = "oops"
        broken = json.dumps(raw, indent=2)
        path.write_text(broken)
        await wait_for_log(env, "config reload skipped", again=lambda: path.write_text(broken + "\n"))
        assert "`moltbot config set|unset PATH`" in gateway_log(env)
        fixed = run_moltbot(env, "config", "unset", "gateway.port")
        assert fixed.returncode == 0 and "the file loads again" in fixed.stdout, fixed.stderr
        await wait_for_log(env, "loads again")
        changed = run_moltbot(env, "config", "set", "agents.defaults.model.primary", "echo/echo")
        assert changed.returncode == 0, changed.stderr
        await wait_for_log(env, "config reload: hot (agents)")
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            await process.wait()

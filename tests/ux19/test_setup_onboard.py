"""``moltbot setup`` with a model provider and a Telegram bot: flags when not on a terminal, questions on one.

Secrets (an API key, a bot token) reach only the config file (0600) and are never printed, neither
echoed by the terminal nor in setup's own lines; an existing file keeps its comments.
"""

from __future__ import annotations

import stat

from tests.cli19.helpers import cli_env, run_cli
from tests.ux19.helpers import API_KEY, TELEGRAM, open_terminal, read_config, run_with_stdin


def _config(home):
    return home / ".clawdbot" / "moltbot.json"


async def test_flags_name_a_provider_and_the_key_variable_nothing_secret_is_written(tmp_path):
    result = await run_cli(cli_env(tmp_path), "setup", "--non-interactive", "--provider", "openai",
                           "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "OPENAI_API_KEY")
    assert result.returncode == 0, result.stderr
    raw = read_config(_config(tmp_path))
    assert raw["agents"]["defaults"]["model"]["primary"] == "openai/gpt-4o-mini"
    assert raw["models"]["providers"]["openai"] == {"baseUrl": "http://127.0.0.1:9/v1"}  # no apiKey
    assert "reads the openai API key from $OPENAI_API_KEY" in result.stdout
    assert stat.S_IMODE(_config(tmp_path).stat().st_mode) == 0o600


async def test_an_api_key_from_stdin_is_stored_and_never_printed(tmp_path):
    result = await run_with_stdin(cli_env(tmp_path), f"{API_KEY}\n".encode(), "setup", "--provider", "anthropic",
                                  "--api-key-stdin")
    assert result.returncode == 0, result.stderr
    assert read_config(_config(tmp_path))["models"]["providers"]["anthropic"]["apiKey"] == API_KEY
    assert "set models.providers.anthropic.apiKey = (hidden)" in result.stdout
    assert API_KEY not in result.stdout + result.stderr
    assert read_config(_config(tmp_path))["agents"]["defaults"]["model"]["primary"] == "anthropic/claude-sonnet-4-5"


async def test_a_telegram_token_from_stdin_is_stored_hidden_and_a_bad_one_is_refused_unechoed(tmp_path):
    env = cli_env(tmp_path)
    bad = "not-a-token-but-a-secret-anyway"
    refused = await run_cli(env, "setup", "--telegram-token", bad)
    assert refused.returncode == 2 and "@BotFather" in refused.stderr
    assert bad not in refused.stdout + refused.stderr and not _config(tmp_path).exists()
    result = await run_with_stdin(env, f"{TELEGRAM}\n".encode(), "setup", "--telegram-token", "-")
    assert result.returncode == 0, result.stderr
    assert read_config(_config(tmp_path))["channels"]["telegram"]["botToken"] == TELEGRAM
    assert TELEGRAM not in result.stdout + result.stderr and "botToken = (hidden)" in result.stdout


async def test_an_existing_file_keeps_its_comments_and_a_custom_provider_gets_its_own_entry(tmp_path):
    env = cli_env(tmp_path)
    assert (await run_cli(env, "setup", "--non-interactive")).returncode == 0
    path = _config(tmp_path)
    path.write_text("// mine: keep this\n" + path.read_text().replace('"mode": "local"', '"mode": "local" /* here */'))
    result = await run_cli({**env, "VLLM_KEY": "from-env"}, "setup", "--provider", "vllm", "--model", "qwen",
                           "--base-url", "http://127.0.0.1:8000/v1", "--api-key-env", "VLLM_KEY")
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert "// mine: keep this" in text and "/* here */" in text
    provider = read_config(path)["models"]["providers"]["vllm"]
    assert provider == {"baseUrl": "http://127.0.0.1:8000/v1", "api": "openai-completions", "apiKey": "${VLLM_KEY}"}
    assert read_config(path)["agents"]["defaults"]["model"]["primary"] == "vllm/qwen"


async def test_refusals_name_what_is_missing_and_write_nothing(tmp_path):
    env = cli_env(tmp_path)
    assert (await run_cli(env, "setup", "--non-interactive")).returncode == 0
    before = _config(tmp_path).read_text()
    no_url = await run_cli(env, "setup", "--provider", "vllm")
    assert no_url.returncode == 2 and "--base-url" in no_url.stderr
    unset = await run_cli(env, "setup", "--provider", "vllm", "--base-url", "http://127.0.0.1:8000/v1",
                          "--model", "m", "--api-key-env", "NOT_SET_ANYWHERE")
    assert unset.returncode == 1 and "NOT_SET_ANYWHERE is not set" in unset.stderr
    assert "nothing was written" in unset.stderr and "Traceback" not in unset.stderr
    orphan = await run_cli(env, "setup", "--model", "gpt-4o")
    assert orphan.returncode == 2 and "need --provider" in orphan.stderr
    assert _config(tmp_path).read_text() == before


async def test_on_a_terminal_setup_asks_and_hides_what_is_secret(tmp_path):
    async with open_terminal(cli_env(tmp_path), "--dev", "setup") as terminal:
        await terminal.answer("Agent workspace", "")
        await terminal.answer("Model provider (none yet: agents answer with echo)", "openai")
        await terminal.answer("Model [gpt-4o-mini]:", "gpt-4o")
        await terminal.answer("API key (hidden;", API_KEY)
        await terminal.answer("Telegram bot token from @BotFather (hidden;", TELEGRAM)
        await terminal.expect("Start the gateway with: moltbot --dev gateway")
        code = await terminal.finish()
    assert code == 0, terminal.text
    assert API_KEY not in terminal.text and TELEGRAM not in terminal.text  # not echoed, not printed
    assert "set models.providers.openai.apiKey = (hidden)" in terminal.text
    raw = read_config(tmp_path / ".clawdbot-dev" / "moltbot.json")
    assert raw["models"]["providers"]["openai"]["apiKey"] == API_KEY
    assert raw["channels"]["telegram"]["botToken"] == TELEGRAM
    assert raw["agents"]["defaults"]["model"]["primary"] == "openai/gpt-4o"
    assert raw["agents"]["defaults"]["workspace"] == str(tmp_path / "clawd-dev")


async def test_on_a_terminal_skipping_everything_keeps_echo_and_says_so(tmp_path):
    async with open_terminal(cli_env(tmp_path), "setup") as terminal:
        await terminal.answer("Agent workspace", "")
        await terminal.answer("Model provider", "")  # the default: skip
        await terminal.answer("Telegram bot token", "")
        code = await terminal.finish()
    assert code == 0, terminal.text
    assert "No model provider yet: agents answer with echo" in terminal.text
    raw = read_config(_config(tmp_path))
    assert "models" not in raw and "channels" not in raw

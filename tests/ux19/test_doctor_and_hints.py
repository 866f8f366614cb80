"""``doctor`` names a missing model provider; every hint printed under ``--dev`` names ``--dev``; long
operations show progress (plain lines when not on a terminal, rich on one)."""

from __future__ import annotations

import re

from tests.cli19.helpers import cli_env, closed_port, run_cli, run_cli_process
from tests.ux19.helpers import open_terminal

# "moltbot <word>" as a command to type (not moltbot.json, moltbot/OpenClaw, "moltbot gateway listening")
COMMAND = re.compile(r"moltbot (?!--dev\b)(?=[a-z])")


def _hints_without_dev(text: str) -> list[str]:
    return [line for line in text.splitlines() if COMMAND.search(line)]


async def test_doctor_says_agents_answer_with_echo_and_how_to_pick_a_model(tmp_path):
    env = cli_env(tmp_path)
    assert (await run_cli(env, "--dev", "setup", "--non-interactive")).returncode == 0
    result = await run_cli(env, "--dev", "doctor")
    assert "warn  model: no model provider: agents answer with echo" in result.stdout
    assert "fix: moltbot --dev setup (asks on a terminal), or moltbot --dev setup --provider openai" in result.stdout
    assert result.returncode == 0  # a warning, not a problem
    assert (await run_cli(env, "--dev", "setup", "--provider", "openai")).returncode == 0
    keyed = await run_cli({**env, "OPENAI_API_KEY": "sk-from-env"}, "--dev", "doctor")
    assert "ok    model: agents answer with openai/gpt-4o-mini" in keyed.stdout
    unkeyed = await run_cli(env, "--dev", "doctor")
    assert "warn  model: openai/gpt-4o-mini: model provider \"openai\" needs an API key" in unkeyed.stdout


async def test_every_hint_under_dev_carries_dev(tmp_path):
    env = cli_env(tmp_path, CLAWDBOT_GATEWAY_PORT=str(closed_port()))
    outputs = []
    setup = await run_cli(env, "--dev", "setup", "--non-interactive")
    outputs.append(setup)
    outputs.append(await run_cli(env, "--dev", "doctor"))
    outputs.append(await run_cli(env, "logs", "--dev"))  # gateway down and no log file yet
    outputs.append(await run_cli(env, "--dev", "status"))  # unreachable
    assert (await run_cli(env, "--dev", "config", "unset", "gateway.mode")).returncode == 0
    outputs.append(await run_cli_process(env, "--dev", "gateway"))  # refuses: gateway.mode is not local
    config = tmp_path / ".clawdbot-dev" / "moltbot.json"
    config.write_text(config.read_text().replace('"auth"', '"port": "nope", "auth"', 1))
    outputs.append(await run_cli(env, "--dev", "status"))  # the file does not load
    outputs.append(await run_cli(env, "--dev", "doctor"))
    texts = [result.stdout + result.stderr for result in outputs]
    assert all("moltbot --dev " in text for text in texts), texts  # each one printed a hint
    assert [line for text in texts for line in _hints_without_dev(text)] == []
    assert "`moltbot --dev config set PATH VALUE`" in texts[5]  # the config error's fix
    assert "run `moltbot --dev setup` first" in texts[4]


async def test_doctor_fix_shows_its_progress_as_plain_lines_when_piped(tmp_path):
    env = cli_env(tmp_path)
    assert (await run_cli(env, "setup", "--non-interactive")).returncode == 0
    config = tmp_path / ".clawdbot" / "moltbot.json"
    config.chmod(0o644)
    result = await run_cli(env, "doctor", "--fix")
    assert "applying 1 fix(es)…" in result.stderr
    assert f"fixing permissions: chmod 600 {config}…" in result.stderr
    assert "\x1b[" not in result.stderr  # no terminal control codes in a pipe
    assert config.stat().st_mode & 0o077 == 0
    clean = await run_cli(env, "doctor")
    assert "applying" not in clean.stderr and "checking" not in clean.stderr  # nothing to fix: nothing shown


async def test_doctor_fix_on_a_terminal_draws_rich_progress(tmp_path):
    env = cli_env(tmp_path)
    assert (await run_cli(env, "setup", "--non-interactive")).returncode == 0
    config = tmp_path / ".clawdbot" / "moltbot.json"
    config.chmod(0o644)
    async with open_terminal(env, "doctor", "--fix") as terminal:
        await terminal.expect("fixing permissions")
        code = await terminal.finish()
    assert code == 0, terminal.text
    assert "fixing permissions: chmod 600" in terminal.text and "0/1" in terminal.text  # the bar, then done
    assert "\x1b[" in terminal.text  # drawn with cursor control, then removed (transient)
    assert "fixing permissions: chmod 600 " + str(config) + "…\n" not in terminal.text  # not the plain line
    assert config.stat().st_mode & 0o077 == 0

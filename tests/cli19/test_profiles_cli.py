"""Profiles on the command line: flags after the command too, hints that carry the profile, and an unknown
profile refused by client commands (only ``setup`` creates one, 0700)."""

from __future__ import annotations

import stat

from .helpers import cli_env, closed_port, run_cli


async def test_setup_hints_carry_the_dev_flag(tmp_path):
    result = await run_cli(cli_env(tmp_path), "--dev", "setup", "--non-interactive")
    assert result.returncode == 0, result.stderr
    assert "moltbot --dev config get gateway.auth.token" in result.stdout
    assert "Start the gateway with: moltbot --dev gateway" in result.stdout


async def test_setup_creates_a_named_profile_0700_and_its_hints_name_it(tmp_path):
    result = await run_cli(cli_env(tmp_path), "setup", "--profile", "work", "--non-interactive")
    assert result.returncode == 0, result.stderr
    assert "moltbot --profile work gateway" in result.stdout
    assert stat.S_IMODE((tmp_path / ".clawdbot-work").stat().st_mode) == 0o700


async def test_profile_flag_after_the_command_selects_the_same_profile(tmp_path):
    env = cli_env(tmp_path)
    assert (await run_cli(env, "setup", "--non-interactive")).returncode == 0
    assert (await run_cli(env, "--dev", "setup", "--non-interactive")).returncode == 0
    before = await run_cli(env, "--dev", "config", "get", "gateway.auth.token")
    after = await run_cli(env, "config", "get", "gateway.auth.token", "--dev")
    default = await run_cli(env, "config", "get", "gateway.auth.token")
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout == after.stdout != default.stdout


async def test_status_accepts_dev_after_the_command(tmp_path):
    env = cli_env(tmp_path, CLAWDBOT_GATEWAY_PORT=str(closed_port()))
    assert (await run_cli(env, "--dev", "setup", "--non-interactive")).returncode == 0
    result = await run_cli(env, "status", "--dev")
    assert result.returncode == 1  # refused as unreachable, not as a usage error
    assert "gateway unreachable" in result.stderr
    assert "moltbot --dev gateway" in result.stderr  # the hint carries the profile


async def test_unknown_profile_is_refused_and_not_created(tmp_path):
    env = cli_env(tmp_path)
    for args in (["--profile", "typo", "status"], ["status", "--profile", "typo"], ["--dev", "health"]):
        result = await run_cli(env, *args)
        assert result.returncode == 2, result.stderr
        assert "does not exist" in result.stderr and "setup" in result.stderr
        assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / ".clawdbot-typo").exists() and not (tmp_path / ".clawdbot-dev").exists()


async def test_unknown_profile_from_the_environment_is_refused(tmp_path):
    result = await run_cli(cli_env(tmp_path, OPENCLAW_PROFILE="typo"), "status")
    assert result.returncode == 2 and "profile 'typo' does not exist" in result.stderr


async def test_two_different_profiles_before_and_after_the_command_are_refused(tmp_path):
    result = await run_cli(cli_env(tmp_path), "--dev", "status", "--profile", "work")
    assert result.returncode == 2 and "cannot be combined" in result.stderr

"""Progress on ``migrate`` (a plain line when piped, a bar on a terminal), and ``status`` confirming the
reload after a broken config is fixed while the gateway runs (a real ``moltbot gateway`` process)."""

from __future__ import annotations

import json

from tests.cli19.helpers import run_cli
from tests.ops19.helpers import TOKEN, clean_env, pick_free_port, start_gateway, write_profile_config
from tests.ux19.helpers import open_terminal
from tests.v4.test_migrate_clawdbot import make_clawdbot


def _migrate_env(tmp_path):
    home = tmp_path / "home"
    make_clawdbot(home / ".clawdbot")
    return {**clean_env(home), "MOLTBOT_STATE_DIR": str(tmp_path / "ours"), "NO_COLOR": "1"}


async def test_migrate_says_how_many_files_it_imports_when_piped(tmp_path):
    result = await run_cli(_migrate_env(tmp_path), "migrate", "--from", "clawdbot")
    assert result.returncode == 0, result.stderr
    count = int(result.stderr.split("importing ", 1)[1].split(" file(s)…")[0])
    assert count >= 5 and "\x1b[" not in result.stderr
    assert (tmp_path / "ours" / "cron" / "jobs.json").exists()


async def test_migrate_on_a_terminal_draws_a_bar_of_the_files(tmp_path):
    async with open_terminal(_migrate_env(tmp_path), "migrate", "--from", "clawdbot") as terminal:
        await terminal.expect("importing ")
        code = await terminal.finish()
    assert code == 0, terminal.text
    assert "file(s)…" not in terminal.text  # the plain line is for pipes
    assert "\x1b[" in terminal.text and (tmp_path / "ours" / "cron" / "jobs.json").exists()


async def test_status_shows_the_reload_error_then_confirms_the_fix(tmp_path):
    path = write_profile_config(tmp_path, gateway={"port": pick_free_port()})
    env = {**clean_env(tmp_path), "NO_COLOR": "1"}
    gateway, port = await start_gateway(env)
    try:
        await gateway.wait_for(r"watching .* for changes")
        start = await run_cli(env, "status", "--url", f"ws://127.0.0.1:{port}", "--token", TOKEN)
        assert "(as loaded at start; not reloaded since)" in start.stdout, start.stderr
        broken = json.loads(path.read_text())
        broken["gateway"]["reload"]["debounceMs"] = "soon"
        mark = len(gateway.text)
        path.write_text(json.dumps(broken, indent=2))
        await gateway.wait_for(r"config reload skipped", start=mark)
        # The file does not load: status still reaches the gateway (its lock record's port), and both sides
        # name the fix that works while it runs.
        during = await run_cli(env, "status")
        assert during.returncode == 0, during.stderr
        assert f"note: {path} does not load" in during.stderr and f"on port {port}" in during.stderr
        assert f"Config: {path} does not load since " in during.stdout and "debounceMs" in during.stdout
        assert "`moltbot config set PATH VALUE`" in during.stdout
        mark = len(gateway.text)
        fixed = await run_cli(env, "config", "set", "gateway.reload.debounceMs", "20")
        assert fixed.returncode == 0, fixed.stderr
        await gateway.wait_for(rf"config file {path} loads again: the fix is picked up", start=mark)
        await gateway.wait_for(r"config reload: ", start=mark)
        after = await run_cli(env, "status")
        assert after.returncode == 0 and "does not load" not in after.stdout + after.stderr
        assert "Config: reloaded at " in after.stdout and f"from {path} (" in after.stdout
    finally:
        await gateway.stop()

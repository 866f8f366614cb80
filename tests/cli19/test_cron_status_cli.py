"""``cron`` for people (durations as ``1h``, what was added) and JSON with ``--json``; ``cron run ID`` runs
the job now; ``status`` says which URL and profile it reached."""

from __future__ import annotations

import json

from tests.conftest import CLI_DEADLINE_S, TOKEN, gateway_fixture

from .helpers import cli_env, run_cli

gateway = gateway_fixture(CLI_DEADLINE_S)  # these tests start the CLI as a process


async def _cron(env, gateway, *args):
    return await run_cli(env, "cron", *args, "--url", gateway.url, "--token", TOKEN)


async def test_cron_add_and_list_print_for_people(tmp_path, gateway):
    env = cli_env(tmp_path)
    added = await _cron(env, gateway, "add", "--name", "hourly", "--every", "1h", "--system-event", "hi")
    listed = await _cron(env, gateway, "list")
    assert added.returncode == 0 and added.stdout.startswith("Added job:") and "every 1h" in added.stdout
    assert "every 1h" in listed.stdout and " ms" not in listed.stdout and "{" not in added.stdout


async def test_cron_add_json_prints_the_job(tmp_path, gateway):
    added = await _cron(cli_env(tmp_path), gateway, "add", "--name", "j", "--every", "90m", "--system-event",
                        "hi", "--json")
    assert json.loads(added.stdout)["schedule"] == {"kind": "every", "everyMs": 5_400_000}


async def test_cron_run_runs_the_job_now_without_force(tmp_path, gateway):
    env = cli_env(tmp_path)
    job = json.loads((await _cron(env, gateway, "add", "--name", "j", "--every", "1h", "--system-event", "hi",
                                  "--json")).stdout)
    ran = await _cron(env, gateway, "run", job["id"])
    runs = json.loads((await _cron(env, gateway, "runs", "--id", job["id"], "--json")).stdout)
    assert ran.returncode == 0 and ran.stdout.strip() == f"Ran job {job['id']}."
    assert [entry["status"] for entry in runs["entries"]] == ["ok"]


async def test_cron_run_due_leaves_a_job_that_is_not_due(tmp_path, gateway):
    env = cli_env(tmp_path)
    job = json.loads((await _cron(env, gateway, "add", "--name", "j", "--every", "1h", "--system-event", "hi",
                                  "--json")).stdout)
    ran = await _cron(env, gateway, "run", job["id"], "--due")
    assert ran.returncode == 0 and "is not due: not run" in ran.stdout


async def test_status_names_the_url_and_profile_it_reached(tmp_path, gateway):
    result = await run_cli(cli_env(tmp_path), "status", "--url", gateway.url, "--token", TOKEN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Reached {gateway.url} (profile default;")

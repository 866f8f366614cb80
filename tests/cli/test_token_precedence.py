"""Token precedence, exactly as the reference has it — and it differs on purpose between the two sides:

- gateway: "`token` = `gateway.auth.token` ?? env `CLAWDBOT_GATEWAY_TOKEN`" (config first);
- CLI (``call.ts``): "Token = `--token` → remote mode: `gateway.remote.token`; local mode: env
  `CLAWDBOT_GATEWAY_TOKEN` → `gateway.auth.token`" (environment first, locally).

So a shell whose ``CLAWDBOT_GATEWAY_TOKEN`` differs from the config's token gets "token mismatch" from
the CLI: ``moltbot doctor`` says so, and the CLI's failure names where its token came from.
"""

from __future__ import annotations

import json
import os

from tests.cli.helpers import run_moltbot as _run
from tests.cli.helpers import start_gateway as _start

CONFIG_TOKEN = "config-token-0123456789abcdef"
ENV_TOKEN = "env-token-fedcba9876543210xyz"


def write_config(home, gateway: dict) -> None:
    state = home / ".clawdbot"
    state.mkdir(mode=0o700, exist_ok=True)
    path = state / "moltbot.json"
    path.write_text(json.dumps({"gateway": gateway}))
    os.chmod(path, 0o600)


async def test_gateway_prefers_its_config_token_and_the_cli_prefers_the_environment(home):
    tmp_path, env = home
    write_config(tmp_path, {"mode": "local", "auth": {"token": CONFIG_TOKEN}})
    # The gateway's own environment has another token: the config's wins.
    process, url, _ = await _start({**env, "CLAWDBOT_GATEWAY_TOKEN": ENV_TOKEN}, unconfigured=False)
    try:
        assert _run(env, "gateway", "call", "health", "--url", url, "--token", CONFIG_TOKEN).returncode == 0
        refused = _run(env, "gateway", "call", "health", "--url", url, "--token", ENV_TOKEN)
        assert refused.returncode == 1 and "token mismatch" in refused.stderr

        # The CLI, locally: the environment's token before the config's ...
        from_env = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": ENV_TOKEN}, "gateway", "call", "health", "--url", url)
        assert from_env.returncode == 1 and "the token sent came from CLAWDBOT_GATEWAY_TOKEN" in from_env.stderr
        assert "differs from gateway.auth.token" in from_env.stderr
        # ... the config's when the environment has none, and --token before both.
        assert _run(env, "gateway", "call", "health", "--url", url).returncode == 0
        assert _run({**env, "CLAWDBOT_GATEWAY_TOKEN": ENV_TOKEN}, "gateway", "call", "health", "--url", url,
                    "--token", CONFIG_TOKEN).returncode == 0

        # doctor explains the mismatch in those terms
        doctor = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": ENV_TOKEN}, "doctor", "--json")
        findings = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "token"]
        assert any(f["status"] == "warn" and "differs from gateway.auth.token" in f["detail"]
                   and "the gateway uses its config's" in f["detail"] for f in findings), findings

        # The Control UI's help for the key says the same (it used to claim the environment overrides it).
        schema = _run(env, "gateway", "call", "config.schema", "--url", url)
        help_text = json.loads(schema.stdout)["uiHints"]["gateway.auth.token"]["help"]
        assert "overrides" not in help_text and "fallback" in help_text, help_text
    finally:
        process.kill()


async def test_remote_mode_uses_the_remote_token_not_the_environment(home):
    tmp_path, env = home
    write_config(tmp_path, {"mode": "local", "auth": {"token": CONFIG_TOKEN}})
    process, url, _ = await _start(env, unconfigured=False)
    try:
        # The CLI's own config (another file: the gateway's is left alone) points at the gateway remotely.
        remote = tmp_path / "remote.json"
        remote.write_text(json.dumps({"gateway": {"mode": "remote", "remote": {"url": url, "token": CONFIG_TOKEN}}}))
        os.chmod(remote, 0o600)
        result = _run({**env, "CLAWDBOT_GATEWAY_TOKEN": ENV_TOKEN, "CLAWDBOT_CONFIG_PATH": str(remote)},
                      "gateway", "call", "health")
        assert result.returncode == 0, result.stderr
    finally:
        process.kill()

"""The examples run as written."""

import subprocess
import sys
from pathlib import Path

import trio

from tests.conftest import TOKEN

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def test_embed_example_runs_the_gateway_inside_its_own_nursery():
    result = await trio.run_process([sys.executable, str(EXAMPLES / "embed_in_trio_app.py")],
                                    capture_stdout=True, capture_stderr=True)
    out = result.stdout.decode()
    assert "health ok=True" in out and "my app sees the gateway at ws://127.0.0.1:" in out


async def test_client_health_example_talks_to_a_running_gateway(gateway):
    with trio.fail_after(20):
        result = await trio.run_process([sys.executable, str(EXAMPLES / "client_health.py"), gateway.url, TOKEN],
                                        capture_stdout=True, capture_stderr=True)
    assert '"ok": true' in result.stdout.decode()


def test_client_health_example_explains_usage():
    result = subprocess.run([sys.executable, str(EXAMPLES / "client_health.py")], capture_output=True, text=True)
    assert result.returncode == 1 and "usage" in result.stderr

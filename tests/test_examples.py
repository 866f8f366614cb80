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


def _readme_embedding_example() -> str:
    text = (EXAMPLES.parent / "README.md").read_text("utf-8")
    section = text.split("## Embedding", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(path.relative_to(root)), path.stat().st_mtime_ns) for path in root.rglob("*"))


async def test_readme_embedding_example_runs_as_written_with_a_read_only_home(tmp_path):
    """The README's example, run as written (public imports only) by a fresh interpreter whose HOME is read
    only: the gateway writes nothing there (as root a mode does not stop a write, so the tree is compared)."""
    code = _readme_embedding_example()
    assert "moltbot." not in code.replace("from moltbot import", "")  # public names only
    home = tmp_path / "home"
    (home / "existing").mkdir(parents=True)
    before = _tree(home)
    home.chmod(0o500)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(scratch),
           "PYTHONPATH": str(EXAMPLES.parent)}
    try:
        with trio.fail_after(60):
            result = await trio.run_process([sys.executable, "-c", code], env=env, capture_stdout=True,
                                            capture_stderr=True, check=False)
    finally:
        home.chmod(0o700)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "health ok: True" in result.stdout.decode()
    assert _tree(home) == before
    assert list(scratch.iterdir()) == []  # the temporary state dir is gone too

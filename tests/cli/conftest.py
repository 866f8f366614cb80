import os

import pytest


@pytest.fixture
def home(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLAWDBOT_", "MOLTBOT_"))}
    env["HOME"] = str(tmp_path)
    return tmp_path, env



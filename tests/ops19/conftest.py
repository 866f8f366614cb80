import pytest

from tests.ops19.helpers import clean_env


@pytest.fixture
def home(tmp_path):
    return tmp_path, clean_env(tmp_path)

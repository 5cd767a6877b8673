import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The repository's own copies: vendor files and the reference tables written for Palisade.
VENDOR = ROOT / "contracts" / "vendor"
REFERENCE = ROOT / "contracts" / "reference"


def pytest_addoption(parser):
    parser.addoption("--artifacts", action="store", default=None,
                     help="directory where the Swift end-to-end tests left the managed files the agent wrote")


@pytest.fixture(scope="session")
def artifacts_dir(request):
    value = request.config.getoption("--artifacts")
    if not value:
        pytest.fail("--artifacts is required: run the Swift tests with PALISADE_ARTIFACTS_DIR set first")
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def wdav_schema_path():
    path = VENDOR / "com.microsoft.wdav.schema.json"
    assert path.exists(), f"vendor schema not found at {path}"
    return path


@pytest.fixture(scope="session")
def admx_path():
    path = VENDOR / "WindowsDefender.admx"
    assert path.exists(), f"vendor ADMX not found at {path}"
    return path


@pytest.fixture(scope="session")
def windows_reference():
    """contracts/reference/windows-settings.json: CSP names, ASR rules, firewall and ATP values."""
    path = REFERENCE / "windows-settings.json"
    assert path.exists(), f"Windows reference table not found at {path}"
    return json.loads(path.read_text())

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# CI lays a copy of shared/ beside the checkout.
SHARED = ROOT.parent / "shared"


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
    path = SHARED / "contracts" / "defender" / "com.microsoft.wdav.schema.json"
    assert path.exists(), f"vendor schema not found at {path}"
    return path

"""The managed files that the real agent wrote during the Swift end-to-end tests must validate
against Microsoft's own schema, with jschon, as Microsoft validates profiles."""
import json
import plistlib

import pytest
from jschon import JSON, JSONSchema, create_catalog

create_catalog("2020-12")


@pytest.fixture(scope="session")
def schema(wdav_schema_path):
    return JSONSchema(json.loads(wdav_schema_path.read_text()))


def managed_files(artifacts_dir):
    return sorted(p for p in artifacts_dir.glob("linux-*.json"))


def test_end_to_end_tests_left_managed_files(artifacts_dir):
    files = managed_files(artifacts_dir)
    assert files, f"no managed files in {artifacts_dir}: the end-to-end tests did not run or did not keep them"


def test_every_managed_file_validates_against_the_vendor_schema(artifacts_dir, schema):
    failures = []
    for path in managed_files(artifacts_dir):
        document = json.loads(path.read_text())
        result = schema.evaluate(JSON(document))
        if not result.valid:
            failures.append(f"{path.name}: {json.dumps(result.output('basic'), indent=1)[:2000]}")
    assert not failures, "\n".join(failures)


def test_full_catalog_renders_validate(artifacts_dir, schema):
    linux = artifacts_dir / "linux-full-catalog.json"
    mac = artifacts_dir / "macos-full-catalog.plist"
    assert linux.exists() and mac.exists(), "the Swift full-catalog render test did not run"
    for name, document in (("linux", json.loads(linux.read_text())), ("macos", plistlib.loads(mac.read_bytes()))):
        result = schema.evaluate(JSON(document))
        assert result.valid, f"{name}: {json.dumps(result.output('basic'), indent=1)[:3000]}"


def test_managed_plists_validate(artifacts_dir, schema):
    plists = sorted(artifacts_dir.glob("macos-*.plist"))
    assert len(plists) >= 2, "the macOS end-to-end test kept no plist"
    for path in plists:
        result = schema.evaluate(JSON(plistlib.loads(path.read_bytes())))
        assert result.valid, f"{path.name}: {json.dumps(result.output('basic'), indent=1)[:2000]}"


def test_schema_rejects_a_wrong_value(schema):
    # Guards the check itself: a value outside the vendor enum must fail validation.
    bad = {"antivirusEngine": {"enforcementLevel": "sometimes"}}
    assert not schema.evaluate(JSON(bad)).valid

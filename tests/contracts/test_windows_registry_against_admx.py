"""Every Windows setting's registry output (key, value name, type, data) checked against the
vendor's ADMX, read here independently of the Swift generator, and against the reference table
contracts/reference/windows-settings.json for the CSP Allow*/Disable* inversions, ASR rules,
firewall and ATP values."""
import json
import xml.etree.ElementTree as ET

import pytest

NS = {"p": "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"}
HKLM = "HKLM\\"


def full_key(key):
    parts = key.split("\\", 1)
    return HKLM + ("SOFTWARE\\" + parts[1] if parts[0].lower() == "software" else key)


@pytest.fixture(scope="session")
def golden(artifacts_dir):
    path = artifacts_dir / "windows-registry-golden.json"
    assert path.exists(), f"{path} missing: the Swift golden test did not run"
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def admx_values(admx_path):
    """(key lower, value name lower) -> what the ADMX allows there."""
    root = ET.parse(admx_path).getroot()
    allowed = {}
    lists = {}
    for policy in root.iter(f"{{{NS['p']}}}policy"):
        key = full_key(policy.get("key"))
        name = policy.get("valueName")
        enabled = policy.find("p:enabledValue/p:decimal", NS)
        disabled = policy.find("p:disabledValue/p:decimal", NS)
        elements = policy.find("p:elements", NS)
        if name is not None:
            if enabled is not None or disabled is not None:
                allowed[(key.lower(), name.lower())] = ("REG_DWORD", {int(enabled.get("value")), int(disabled.get("value"))})
            else:
                # A policy flag whose data lives in its elements: enabled writes 1.
                allowed.setdefault((key.lower(), name.lower()), ("REG_DWORD", {1}))
        for element in list(elements) if elements is not None else []:
            kind = element.tag.split("}")[1]
            element_key = full_key(element.get("key")) if element.get("key") else key
            value_name = element.get("valueName")
            if kind == "decimal":
                allowed[(element_key.lower(), value_name.lower())] = ("REG_DWORD", range(int(element.get("minValue", 0)), int(element.get("maxValue", 2**32 - 1)) + 1))
            elif kind == "enum":
                values = {int(item.find("p:value/p:decimal", NS).get("value")) for item in element.findall("p:item", NS)}
                allowed[(element_key.lower(), value_name.lower())] = ("REG_DWORD", values)
            elif kind == "text":
                allowed[(element_key.lower(), value_name.lower())] = ("REG_SZ", None)
            elif kind == "boolean":
                allowed[(element_key.lower(), value_name.lower())] = ("REG_DWORD", {0, 1})
            elif kind == "list":
                lists[element_key.lower()] = policy.get("name")
    return allowed, lists


@pytest.fixture(scope="session")
def firewall_values(windows_reference):
    """Registry value paths below a firewall profile key: "Logging\\LogFileSize", "EnableFirewall"."""
    settings = windows_reference["firewall"]["profileSettings"]
    return {"\\".join(filter(None, (s.get("registrySubkey"), s["valueName"]))) for s in settings}


@pytest.fixture(scope="session")
def atp_values(windows_reference):
    """(key lower, value name lower) of the Advanced Threat Protection values."""
    return {(row["registryKey"].lower(), row["valueName"].lower()) for row in windows_reference["advancedThreatProtection"]}


def test_every_registry_value_is_where_the_admx_or_the_reference_puts_it(golden, admx_values, firewall_values, atp_values):
    allowed, lists = admx_values
    checked = 0
    problems = []
    for row in golden:
        for value in row["registry"]:
            key, name, kind, data = value["key"], value["name"], value["type"], value["data"]
            place = (key.lower(), name.lower())
            if place in allowed:
                expected_kind, expected_data = allowed[place]
                if kind != expected_kind:
                    problems.append(f"{row['settingId']}: {key}\\{name} is {kind}, ADMX says {expected_kind}")
                if expected_data is not None and data not in expected_data:
                    problems.append(f"{row['settingId']}: {key}\\{name} = {data}, ADMX allows {sorted(expected_data)[:10]}")
                checked += 1
            elif key.lower() in lists:
                if kind != "REG_SZ":
                    problems.append(f"{row['settingId']}: list item {name} under {key} is {kind}, must be REG_SZ")
                checked += 1
            elif key.startswith(HKLM + "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\"):
                profile = key.split("\\")[5]
                assert profile in {"DomainProfile", "StandardProfile", "PublicProfile", "FirewallRules"}, key
                if profile == "FirewallRules":
                    assert data.startswith("v2.30|") and data.endswith("|") and f"Name={name}|" in data, data
                else:
                    below_profile = "\\".join(key.split("\\")[6:] + [name])
                    assert below_profile in firewall_values, f"firewall value {below_profile} not in windows-settings.json"
                checked += 1
            elif key.startswith(HKLM + "SOFTWARE\\Policies\\Microsoft\\Windows Advanced Threat Protection"):
                assert place in atp_values, f"ATP value {key}\\{name} not in windows-settings.json"
                checked += 1
            else:
                problems.append(f"{row['settingId']}: {key}\\{name} is in neither the ADMX nor windows-settings.json")
    assert not problems, "\n".join(problems[:40])
    assert checked >= 300


def test_csp_allow_settings_are_inverted_disable_values(golden, windows_reference):
    inverted = {row["name"]: row["registryPath"].split("\\")[-1]
                for row in windows_reference["defenderCSP"]["settings"] if row["inverted"]}
    assert len(inverted) >= 8
    assert all(name.startswith("Allow") for name in inverted), sorted(inverted)
    rows = {(row["settingId"], json.dumps(row["value"])): row for row in golden}
    for csp, value_name in inverted.items():
        for allowed, data in ((True, 0), (False, 1)):
            row = rows[(f"Defender/{csp}", json.dumps(allowed))]
            written = [v for v in row["registry"] if v["name"] == value_name]
            assert written and written[0]["data"] == data, f"Defender/{csp}={allowed} must write {value_name}={data}, wrote {row['registry']}"


def test_asr_rules_use_the_rule_guids_of_the_reference(golden, windows_reference):
    guids = {rule["guid"] for rule in windows_reference["attackSurfaceReduction"]["rules"]}
    assert len(guids) >= 19
    rows = [row for row in golden if row["settingId"] == "Defender/AttackSurfaceReductionRules"]
    assert rows
    for row in rows:
        for value in row["registry"]:
            if value["key"].endswith("\\ASR\\Rules"):
                assert value["name"] in guids
                assert value["data"] in {"0", "1", "2", "6"}
            else:
                assert value["name"] == "ExploitGuard_ASR_Rules" and value["data"] == 1

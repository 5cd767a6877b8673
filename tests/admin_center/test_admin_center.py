"""The admin center's main flow in a real headless Chromium, against a real server and real
agents: sign in, a dynamic group with its live preview, a Linux antivirus policy refused with
the error beside the field and then saved, assignment, Sync now and the policy report turning
succeeded, the device's "why" view, a rollback, the CSV export; and a read-only operator who
sees no edit controls and is refused when posting a form anyway. Screenshots of every main page
go to docs/screenshots/ at 1366 x 768."""
import csv
import io
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import PASSWORD


def wait_for(condition, timeout=20, interval=0.2, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = condition()
            if last:
                return last
        except Exception as error:  # the page may be reloading
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def sign_in(driver, server, email, next_path="/"):
    driver.get(server.url + "/sign-in?next=" + next_path)
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(lambda: "/sign-in" not in driver.current_url, message="sign-in")


def shot(driver, screenshots, name):
    driver.save_screenshot(str(screenshots / f"{name}.png"))


def test_main_flow(server, agents, browser, screenshots):
    driver = browser
    web, db = agents
    server.create_user("ada@example.com", "administrator")

    # Sign in.
    driver.get(server.url + "/")
    assert "/sign-in" in driver.current_url, "an anonymous visit goes to the sign-in page"
    shot(driver, screenshots, "sign-in")
    sign_in(driver, server, "ada@example.com")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Overview"

    # A dynamic group: the preview lists the matching device as the rule is typed, and a
    # broken rule shows its error under the rule.
    driver.get(server.url + "/groups/new")
    driver.find_element(By.ID, "name").send_keys("Web servers")
    driver.find_element(By.ID, "kind-dynamic").click()
    rule = driver.find_element(By.ID, "membershipRule")
    rule.send_keys('device.name -startsWith')
    wait_for(lambda: driver.find_element(By.ID, "membershipRule-error").is_displayed(), message="the rule's error under the rule")
    assert "membershipRule" in driver.find_element(By.ID, "membershipRule-error").text
    rule.send_keys(' "web-"')
    wait_for(lambda: "1 device matches" in driver.find_element(By.ID, "rule-preview").text, message="the live preview")
    assert "web-01" in driver.find_element(By.ID, "rule-preview").text
    assert "db-01" not in driver.find_element(By.ID, "rule-preview").text
    shot(driver, screenshots, "group-new")
    driver.find_element(By.ID, "create-group").click()
    wait_for(lambda: driver.find_element(By.TAG_NAME, "h1").text == "Web servers", message="the group page")
    group_url = driver.current_url.split("?")[0]
    assert "web-01" in driver.find_element(By.ID, "member-table").text

    # A Linux antivirus policy: an out-of-range value is refused beside its field.
    driver.get(server.url + "/policies/new?platform=linux&template=antivirus")
    driver.find_element(By.ID, "name").send_keys("Linux baseline")
    threads = driver.find_element(By.ID, "setting-antivirusEngine-maximumOnDemandScanThreads")
    threads.send_keys("500")
    Select(driver.find_element(By.ID, "setting-cloudService-enabled")).select_by_value("true")
    Select(driver.find_element(By.ID, "setting-antivirusEngine-enforcementLevel")).select_by_value("real_time")
    driver.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    error = wait_for(lambda: driver.find_element(By.ID, "setting-antivirusEngine-maximumOnDemandScanThreads-error"), message="the field's error")
    assert "expected an integer from 1 to 64, got 500" in error.text
    field = driver.find_element(By.ID, "setting-antivirusEngine-maximumOnDemandScanThreads")
    assert field.get_attribute("aria-invalid") == "true"
    # Beside the field: in the same setting block as the input it concerns.
    block = driver.find_element(By.ID, "setting-antivirusEngine-maximumOnDemandScanThreads-block")
    assert block.find_element(By.CLASS_NAME, "field-error").text == error.text
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    shot(driver, screenshots, "policy-error")
    field.clear()
    field.send_keys("4")
    driver.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    wait_for(lambda: driver.find_element(By.TAG_NAME, "h1").text == "Linux baseline", message="the policy page")
    policy_url = driver.current_url.split("?")[0]
    policy_id = policy_url.rsplit("/", 1)[1]

    # Assign it to the group (impact preview first).
    driver.find_element(By.CSS_SELECTOR, f"input[name=include][aria-label='Include Web servers']").click()
    driver.find_element(By.CSS_SELECTOR, "button[name=action][value=preview]").click()
    preview = wait_for(lambda: driver.find_element(By.ID, "impact-preview"), message="the impact preview")
    assert "1 of 1 devices" in preview.text
    driver.find_element(By.ID, "save-assignments").click()
    wait_for(lambda: "Assignments saved" in driver.page_source, message="assignments saved")

    # Sync now on the running agent's device, then the policy report turns succeeded.
    driver.get(server.url + f"/devices/{web.device_id}")
    driver.find_element(By.ID, "sync-now").click()
    wait_for(lambda: "Sync requested" in driver.page_source, message="sync requested")

    def report_succeeded():
        driver.get(policy_url + "/report")
        return driver.find_element(By.CSS_SELECTOR, "#policy-summary [data-state=succeeded]").text == "1"
    wait_for(report_succeeded, timeout=30, interval=1, message="the policy report to say succeeded")
    assert "web-01" in driver.find_element(By.ID, "report-devices").text
    shot(driver, screenshots, "policy-report")

    # The device's "why": each setting with the policy and the group it came through.
    driver.get(server.url + f"/devices/{web.device_id}")
    row = driver.find_element(By.ID, "setting-antivirusEngine.maximumOnDemandScanThreads")
    assert "4" in row.text and "Succeeded" in row.text
    assert "Linux baseline" in row.text and "Web servers" in row.text
    shot(driver, screenshots, "device")

    # A second revision, then a rollback to the first (previewed, then confirmed).
    driver.get(policy_url + "/edit")
    threads = driver.find_element(By.ID, "setting-antivirusEngine-maximumOnDemandScanThreads")
    threads.clear()
    threads.send_keys("8")
    driver.find_element(By.CSS_SELECTOR, "button[value=preview]").click()
    wait_for(lambda: "would receive a changed configuration" in driver.find_element(By.ID, "impact-preview").text, message="the edit preview")
    driver.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    wait_for(lambda: "revision 2" in driver.page_source, message="revision 2")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Roll back to revision 1']").click()
    wait_for(lambda: driver.find_element(By.ID, "rollback-preview"), message="the rollback preview")
    shot(driver, screenshots, "rollback")
    driver.find_element(By.ID, "confirm-rollback").click()
    wait_for(lambda: "revision 3" in driver.page_source, message="revision 3")
    assert server.request("GET", f"/api/v1/policies/{policy_id}")["settings"]["antivirusEngine.maximumOnDemandScanThreads"] == 4
    shot(driver, screenshots, "policy")
    driver.get(policy_url + "/revisions/3?against=2")
    assert "antivirusEngine.maximumOnDemandScanThreads" in driver.find_element(By.ID, "diff").text
    shot(driver, screenshots, "revision-diff")

    # Export the policy report as CSV: the browser downloads the file.
    driver.get(policy_url + "/report")
    driver.find_element(By.ID, "export-csv").click()
    downloaded = wait_for(lambda: [p for p in driver.downloads.iterdir() if p.suffix == ".csv"], message="the CSV download")
    rows = list(csv.DictReader(io.StringIO(downloaded[0].read_text())))
    assert [row["deviceName"] for row in rows] == ["web-01"]

    # Screenshots of the other main pages.
    for name, path in [("overview", "/"), ("devices", "/devices"), ("groups", "/groups"), ("group", group_url.replace(server.url, "")),
                       ("policies", "/policies"), ("policy-new", "/policies/new?platform=linux&template=antivirus"),
                       ("reports", "/reports"), ("enrollment-report", "/reports/enrollment"), ("onboarding", "/onboarding"),
                       ("tenant-settings", "/tenant-settings"), ("users", "/users"), ("api-tokens", "/api-tokens"), ("audit", "/audit")]:
        driver.get(server.url + path)
        assert driver.find_element(By.TAG_NAME, "h1").text, path
        shot(driver, screenshots, name)


def test_read_only_operator_sees_no_edit_controls_and_is_refused(server, agents, browser):
    driver = browser
    server.create_user("rita@example.com", "readOnlyOperator")
    group = server.request("POST", "/api/v1/groups", {"name": "Read-only check", "members": []})
    sign_in(driver, server, "rita@example.com")
    for path in ["/groups", f"/groups/{group['id']}", "/policies", f"/devices/{agents[0].device_id}", "/tenant-settings"]:
        driver.get(server.url + path)
        forms = [form.get_attribute("action") for form in driver.find_elements(By.CSS_SELECTOR, "form[method=post]")]
        assert forms == [server.url + "/sign-out"], f"{path} offers {forms}"
    # Posting a form anyway, with the session's own CSRF token, is refused.
    driver.get(server.url + f"/groups/{group['id']}")
    driver.execute_script("""
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/groups/' + arguments[0] + '/delete';
        const csrf = document.createElement('input');
        csrf.name = 'csrf';
        csrf.value = document.querySelector('meta[name=csrf-token]').content;
        form.appendChild(csrf);
        document.body.appendChild(form);
        form.submit();
    """, group["id"])
    wait_for(lambda: "403" in driver.find_element(By.TAG_NAME, "h1").text, message="the refusal page")
    assert "manageGroups" in driver.page_source
    assert server.request("GET", f"/api/v1/groups/{group['id']}")["name"] == "Read-only check"


def test_keyboard_only_sign_in_and_visible_focus(server, browser):
    from selenium.webdriver.common.keys import Keys
    driver = browser
    server.create_user("kim@example.com", "helpDeskOperator")
    driver.get(server.url + "/sign-in")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # skip link
    assert driver.switch_to.active_element.get_attribute("class") == "skip"
    driver.switch_to.active_element.send_keys(Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "email"
    outline = driver.execute_script("return getComputedStyle(arguments[0]).outlineStyle", active)
    assert outline != "none", "the focused field shows its focus"
    active.send_keys("kim@example.com" + Keys.TAB + PASSWORD + Keys.ENTER)
    wait_for(lambda: "/sign-in" not in driver.current_url, message="keyboard sign-in")
    # Help desk operators have no policy editing in their navigation.
    nav = driver.find_element(By.CSS_SELECTOR, "nav[aria-label=Main]").text
    assert "Devices" in nav and "Users" not in nav

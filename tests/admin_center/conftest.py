"""Fixtures for the browser tests: a real `palisade serve` over HTTPS on loopback with its own
data directory, real agents enrolled with the CLI, and Debian's headless Chromium driven by
selenium. Nothing is stubbed."""
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("PALISADE_BINARY", ROOT / ".build" / "debug" / "palisade"))
SCREENSHOTS = pathlib.Path(os.environ.get("PALISADE_SCREENSHOTS", ROOT / "docs" / "screenshots"))
PASSWORD = "correct horse battery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process):
    """SIGTERM, then SIGKILL after 15 s; nothing when it never started."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


class Server:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log = open(self.directory / "serve.log", "w")
        self.process = subprocess.Popen(
            [str(BINARY), "serve", "--data-dir", str(self.directory / "data"), "--port", str(self.port), "--log-level", "error"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.ca = self.directory / "data" / "tls" / "ca.pem"
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.ca.exists():
                try:
                    self.request("GET", "/api/v1/health", token=None)
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            raise RuntimeError("palisade serve did not start: " + (self.directory / "serve.log").read_text())
        self.token = (self.directory / "data" / "admin-token").read_text().strip()

    def request(self, method, path, body=None, token=""):
        context = ssl.create_default_context(cafile=str(self.ca))
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", "Bearer " + (token or self.token))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def create_user(self, email, role):
        return self.request("POST", "/api/v1/users", {"email": email, "displayName": email.split("@")[0], "role": role, "password": PASSWORD})

    def stop(self):
        stop_process(self.process)
        self.log.close()


# A STAND-IN for Defender's `mdatp` (a test double: Defender cannot be installed here), on the
# agent's PATH. It answers `mdatp health --output json` with the shape Microsoft documents for a
# healthy, onboarded Linux device (the same recording the Swift tests use), so the agent treats
# Defender as present and reports its settings succeeded.
HEALTHY_MDATP = {
    "healthy": True, "health_issues": [], "licensed": True, "app_version": "101.24092.0002",
    "engine_version": "1.1.24080.1", "org_id": "8a7c0e4e-2f6b-4d3a-9c1e-5b2d7f3a9e10",
    "definitions_version": "1.417.472.0", "definitions_status": "up_to_date", "definitions_updated_minutes_ago": 95,
    "tamper_protection": {"value": "block", "scope": "managed"}, "real_time_protection_subsystem": "fanotify",
}


def install_mdatp_stand_in(directory):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "answer.json").write_text(json.dumps(HEALTHY_MDATP))
    script = directory / "mdatp"
    script.write_text("""#!/bin/sh
# Stand-in for Defender's mdatp (a test double): answers from answer.json beside it.
here=$(dirname "$0")
case "$*" in
  "health --output json") cat "$here/answer.json" ;;
  *) echo "the stand-in does not answer: $*" >&2; exit 2 ;;
esac
""")
    os.chmod(script, 0o755)


class Agent:
    """A real agent, enrolled with an onboarding package, writing under its own sandbox root,
    with the stand-in `mdatp` first on its PATH."""

    def __init__(self, server, directory, name):
        self.directory = pathlib.Path(directory) / name
        self.directory.mkdir(parents=True)
        install_mdatp_stand_in(self.directory / "tools")
        self.environment = dict(os.environ, PATH=str(self.directory / "tools") + os.pathsep + os.environ.get("PATH", ""))
        package = server.request("POST", "/api/v1/onboarding-packages", {"platform": "linux", "name": name, "expiresInHours": 1, "maxUses": 1})
        package_path = self.directory / "package.json"
        package_path.write_text(json.dumps(package))
        os.chmod(package_path, 0o600)
        self.state = self.directory / "state"
        subprocess.run([str(BINARY), "agent", "enroll", "--package", str(package_path), "--state-dir", str(self.state),
                        "--root", str(self.directory / "root"), "--hostname", name, "--hardware-id", "hw-" + name],
                       check=True, capture_output=True, timeout=60, env=self.environment)
        self.device_id = json.loads((self.state / "enrollment.json").read_text())["deviceId"]
        self.log = open(self.directory / "agent.log", "w")
        self.process = None

    def run(self):
        self.process = subprocess.Popen([str(BINARY), "agent", "run", "--state-dir", str(self.state)], stdout=self.log, stderr=subprocess.STDOUT,
                                        env=self.environment)

    def stop(self):
        stop_process(self.process)
        self.log.close()


@pytest.fixture(scope="session")
def workspace():
    directory = tempfile.mkdtemp(prefix="palisade-browser-")
    yield pathlib.Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def server(workspace):
    assert BINARY.exists(), f"build palisade first ({BINARY} is missing)"
    running = Server(workspace)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def agents(server, workspace):
    started = [Agent(server, workspace / "agents", name) for name in ("web-01", "db-01")]
    started[0].run()
    yield started
    for agent in started:
        agent.stop()


def make_browser(download_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768", "--disable-gpu"):
        options.add_argument(argument)
    # The server's certificate comes from its own private CA, which this browser profile does not know.
    options.set_capability("acceptInsecureCerts", True)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir), "download.prompt_for_download": False})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_window_size(1366, 768)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser(workspace):
    downloads = workspace / f"downloads-{time.time_ns()}"
    downloads.mkdir()
    driver = make_browser(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

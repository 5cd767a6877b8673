# Names the tests (and suites) a `swift test` log shows started but not finished: what was still
# running when .ci/run's overall limit stopped the run. Swift Testing and XCTest output.
#   python3 tools/unfinished_tests.py LOG
import re
import sys

STARTED = re.compile(r"^◇ (Test|Suite) (.+) started\.$")
FINISHED = re.compile(r"^[✔✘] (Test|Suite) (.+?)(?: with \d+ test cases?)? (?:passed|failed) after ")
XCTEST = re.compile(r"^Test Case '(.+)' (started|passed|failed)")


def unfinished(lines):
    running = {}
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("◇ Test run started") or line.startswith("◇ Test case passing"):
            continue
        if match := STARTED.match(line):
            running[(match[1], match[2])] = True
        elif match := FINISHED.match(line):
            running.pop((match[1], match[2]), None)
        elif match := XCTEST.match(line):
            key = ("Test", match[1])
            if match[2] == "started":
                running[key] = True
            else:
                running.pop(key, None)
    # Tests first: suites run side by side, so many are open at any moment.
    return sorted(running, key=lambda key: key[0] != "Test")


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
        still = unfinished(log)
    if not still:
        print("  (no test was running: the limit fired before any started, or after the last finished)")
    for kind, name in still:
        print(f"  {kind.lower()}: {name}")

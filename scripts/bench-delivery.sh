#!/usr/bin/env bash
# End-to-end delivery benchmark (issue 12): a release `palisade serve` on SQLite in a temporary
# directory, over its own HTTPS with the generated CA, and `palisade simulate` on the same machine.
#
#   scripts/bench-delivery.sh [N]          # N simulated devices (default 1000)
#
# Environment: PALISADE_BIN (default .build/release/palisade; build it first with
# `swift build -c release --product palisade`), STEADY_DEVICES (closed-loop devices of the
# steady-state phase, default 64), STEADY_SECONDS (default 20), PORT (default 18443),
# KEEP=1 keeps the temporary directory.
#
# Phases:
#  1. N devices enroll (32 at a time) against a policy assigned to a dynamic group of every
#     Linux device (all simulated devices are Linux here: a policy has one platform), hold
#     60 s long-polls, apply and report; the script waits until all N report `succeeded`.
#  2. The policy's settings change through the API; convergence is the time from just before
#     that call until 50 %, 99 % and 100 % of the N devices' `succeeded` reports of the new
#     configuration were acknowledged (timestamped by the simulator, same clock).
#  3. Steady state: STEADY_DEVICES other devices check in with no long-poll and no pause
#     (closed loop) for STEADY_SECONDS; every answer is "unchanged". Figures: cycles/s, p50, p99.
set -euo pipefail

N=${1:-1000}
BIN=${PALISADE_BIN:-.build/release/palisade}
PORT=${PORT:-18443}
STEADY_DEVICES=${STEADY_DEVICES:-64}
STEADY_SECONDS=${STEADY_SECONDS:-20}
[ -x "$BIN" ] || { echo "no $BIN: run swift build -c release --product palisade (or set PALISADE_BIN)" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

WORK=$(mktemp -d /tmp/palisade-bench-delivery.XXXXXX)
SERVER_PID= SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" serve --data-dir "$WORK/data" --port "$PORT" --log-level warning > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
API=https://127.0.0.1:$PORT/api/v1
CURL=(curl -sS --fail-with-body --cacert "$WORK/data/tls/ca.pem")
for _ in $(seq 1 300); do
  [ -f "$WORK/data/admin-token" ] && [ -f "$WORK/data/tls/ca.pem" ] && "${CURL[@]}" -o /dev/null "$API/health" 2>/dev/null && break
  sleep 0.2
done
AUTH="Authorization: Bearer $(cat "$WORK/data/admin-token")"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

GROUP=$("${CURL[@]}" -X POST "$API/groups" -H "$AUTH" -d '{"name":"every linux device","membershipRule":"device.platform -eq \"linux\""}' | json '["id"]')
POLICY=$("${CURL[@]}" -X POST "$API/policies" -H "$AUTH" -d '{"name":"bench","platform":"linux","template":"antivirus","settings":{"cloudService.enabled":true,"cloudService.cloudBlockLevel":"high"}}' | json '["id"]')
"${CURL[@]}" -X PUT "$API/policies/$POLICY/assignments" -H "$AUTH" -d "{\"include\":[\"$GROUP\"]}" > /dev/null
"${CURL[@]}" -X POST "$API/enrollment-tokens" -H "$AUTH" -d "{\"name\":\"bench\",\"expiresInHours\":2,\"maxUses\":$((N + STEADY_DEVICES + 10))}" | json '["token"]' > "$WORK/token"
succeeded() { "${CURL[@]}" "$API/policies/$POLICY/report?limit=1" -H "$AUTH" | json '["summary"].get("succeeded", 0)'; }

echo "== phase 1: $N devices enroll and converge on the first revision" >&2
"$BIN" simulate --server "https://127.0.0.1:$PORT" --ca-file "$WORK/data/tls/ca.pem" --token-file "$WORK/token" \
  --devices "$N" --platform-mix linux=100 --wait-seconds 60 --json "$WORK/fleet.json" --work-dir "$WORK/fleet" 2> "$WORK/fleet.log" &
SIM_PID=$!
START=$(date +%s.%N)
until [ "$(succeeded)" -ge "$N" ]; do
  kill -0 "$SIM_PID" 2>/dev/null || { tail -20 "$WORK/fleet.log" >&2; exit 1; }
  sleep 0.5
done
echo "   all $N succeeded after $(python3 -c "print(round($(date +%s.%N) - $START, 1))") s (enrollment included)" >&2
sleep 3   # every device back on its long-poll

echo "== phase 2: change the policy" >&2
CHANGED_AT=$(date +%s.%N)
"${CURL[@]}" -X PUT "$API/policies/$POLICY" -H "$AUTH" -d '{"name":"bench","platform":"linux","template":"antivirus","settings":{"cloudService.enabled":true,"cloudService.cloudBlockLevel":"high_plus"}}' > /dev/null
API_DONE=$(date +%s.%N)
until [ "$(succeeded)" -ge "$N" ]; do sleep 0.25; done
ALL_SEEN=$(date +%s.%N)
sleep 1
kill -INT "$SIM_PID"; wait "$SIM_PID" || true; SIM_PID=
RSS_AFTER_FLEET=$(ps -o rss= -p "$SERVER_PID")

# The server allows 120 enrollment attempts a minute per address: let the window pass.
[ $((N + STEADY_DEVICES)) -gt 120 ] && sleep 60
echo "== phase 3: steady state, $STEADY_DEVICES devices, no long-poll, no pause, ${STEADY_SECONDS}s" >&2
"$BIN" simulate --server "https://127.0.0.1:$PORT" --ca-file "$WORK/data/tls/ca.pem" --token-file "$WORK/token" \
  --devices "$STEADY_DEVICES" --platform-mix linux=100 --wait-seconds 0 --minimum-interval-ms 0 \
  --duration "$STEADY_SECONDS" --json "$WORK/steady.json" --work-dir "$WORK/steady" 2> "$WORK/steady.log"

python3 - "$WORK/fleet.json" "$WORK/steady.json" "$N" "$CHANGED_AT" "$API_DONE" "$ALL_SEEN" "$RSS_AFTER_FLEET" <<'PY'
import json, math, sys
fleet, steady = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n, changed, api_done, all_seen, rss = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
# Reports of configurations first seen after the change are the new revision's.
times = sorted(t for ts in fleet["succeededReportTimes"].values() if min(ts) > changed for t in ts)
def at(fraction):
    k = math.ceil(fraction * n)
    return f"{times[k - 1] - changed:.3f} s" if len(times) >= k else f"not reached ({len(times)}/{n})"
s = steady["unchangedCycleLatency"]
print(f"devices: {n}")
print(f"enrollments/s (phase 1, 32 in flight): {fleet['enrollmentsPerSecond']:.0f}  (p50 {fleet['enrollLatency']['p50Ms']} ms, p99 {fleet['enrollLatency']['p99Ms']} ms)")
print(f"policy PUT took {api_done - changed:.3f} s")
print(f"convergence after the change: 50 % {at(0.5)}, 99 % {at(0.99)}, 100 % {at(1.0)}  (seen 100 % in the report API after {all_seen - changed:.3f} s)")
print(f"steady state, {steady['summary']['unchangedCheckIns']} unchanged cycles: {steady['unchangedCheckInsPerSecond']:.0f}/s, p50 {s['p50Ms']} ms, p99 {s['p99Ms']} ms (whole agent cycle, client in the same process)")
print(f"errors: fleet {fleet['summary']['errors']}, steady {steady['summary']['errors']}")
print(f"server RSS after the fleet run: {rss / 1024:.0f} MiB")
PY

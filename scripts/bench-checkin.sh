#!/usr/bin/env bash
# Server-alone figure of unchanged check-ins (issue 12, the hot path): a release `palisade
# serve` on SQLite over its own HTTPS, DEVICES devices seeded straight into its data directory
# (no enrollment rate limit), and wrk replaying pre-signed single-use check-ins (each assertion
# once, the agent's body: configuration hash, waitSeconds 0, the same inventory), so every
# answer is "unchanged" and each request pays the full path: assertion check, single-use
# record, state read, last-seen write.
#
#   scripts/bench-checkin.sh [DEVICES] [SECONDS]     # defaults 5000 devices, 10 s per run
#
# Environment: PALISADE_BIN (default .build/release/palisade), BENCH_BIN (default
# .build/release/palisade-bench; the bench binary also seeds, so it must match the server's
# schema), CONNECTIONS (64), THREADS (2), RUNS (2), RATE (the most requests/s expected, to
# size the pre-signed set; default 15000), PORT (18444), KEEP=1 keeps the temporary directory.
# Build first: swift build -c release --product palisade && swift build -c release --product palisade-bench
# The server runs with --device-rate-limit 1000000, so no device is refused for checking in often.
set -euo pipefail

DEVICES=${1:-5000}
SECONDS_PER_RUN=${2:-10}
BIN=${PALISADE_BIN:-.build/release/palisade}
BENCH=${BENCH_BIN:-.build/release/palisade-bench}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
RUNS=${RUNS:-2}
RATE=${RATE:-15000}
PORT=${PORT:-18444}
HERE=$(cd "$(dirname "$0")" && pwd)
for binary in "$BIN" "$BENCH"; do [ -x "$binary" ] || { echo "no $binary: build it first (see the header)" >&2; exit 2; }; done
command -v wrk > /dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || true

WORK=$(mktemp -d /tmp/palisade-bench-checkin.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

echo "== seeding $DEVICES devices" >&2
"$BENCH" checkin-seed --data-dir "$WORK/data" --devices "$DEVICES" --out "$WORK/devices.json" >&2

"$BIN" serve --data-dir "$WORK/data" --port "$PORT" --log-level warning --device-rate-limit 1000000 > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL=https://127.0.0.1:$PORT
for _ in $(seq 1 300); do
  [ -f "$WORK/data/tls/ca.pem" ] && curl -sS --fail --cacert "$WORK/data/tls/ca.pem" -o /dev/null "$URL/api/v1/health" 2>/dev/null && break
  sleep 0.2
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); server $BIN" >&2
echo "== ceiling: GET /api/v1/health, $CONNECTIONS connections, 5 s" >&2
wrk -t "$THREADS" -c "$CONNECTIONS" -d 5s "$URL/api/v1/health" | grep -E "Requests/sec|Latency"

echo "== warm-up: each device checks in once (first check-in of the day goes through the directory)" >&2
"$BENCH" checkin-sign --devices-file "$WORK/devices.json" --requests "$DEVICES" --out "$WORK/warm.tsv" >&2
# Runs out of pre-signed requests on purpose (then replays, refused): only the first use counts.
REQUESTS_FILE="$WORK/warm.tsv" THREADS="$THREADS" wrk -t "$THREADS" -c "$CONNECTIONS" -d "$((DEVICES / 500 + 2))s" -s "$HERE/bench-checkin.lua" "$URL" > /dev/null

for run in $(seq 1 "$RUNS"); do
  "$BENCH" checkin-sign --devices-file "$WORK/devices.json" --requests "$((RATE * SECONDS_PER_RUN))" --out "$WORK/run.tsv" >&2
  echo "== run $run: unchanged check-ins, $CONNECTIONS connections, $SECONDS_PER_RUN s; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  REQUESTS_FILE="$WORK/run.tsv" THREADS="$THREADS" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${SECONDS_PER_RUN}s" --latency -s "$HERE/bench-checkin.lua" "$URL" \
    | grep -E "Requests/sec|Latency|50%|99%|other than|WARNING|requests in"
  echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
grep -iE "error|warning" "$WORK/server.log" | grep -v "insecure" | tail -5 >&2 || true

#!/usr/bin/env bash
# End-to-end delivery benchmark (issue 12), one command:
#
#   swift build -c release --product palisade && swift build -c release --product palisade-bench
#   scripts/bench-delivery.sh [N]                     # N simulated devices (default 1000)
#   PALISADE_BENCH_POSTGRES_URL=postgres://palisade@127.0.0.1:55432/postgres?sslmode=disable \
#     scripts/bench-delivery.sh 1000                  # also PostgreSQL with two replicas
#
# Release `palisade serve` processes over their own HTTPS (generated CA, pinned by the agents)
# and `palisade simulate` (the real agent cycle per device; only Defender's tool is simulated)
# on the same machine. Every figure is written to OUT/results.json and OUT/results.md (a
# markdown table for BENCHMARKS.md), OUT defaulting to bench-results/delivery-N-<time>.
#
# Suites: "sqlite" (one server), then "postgres" (two replicas on PORT and PORT2 sharing one
# fresh database on PALISADE_BENCH_POSTGRES_URL's server, devices spread over both) when that
# variable is set. ENGINES="sqlite postgres" picks suites explicitly.
#
# Phases of each suite, on one enrolled fleet (enrolled once, reused by later phases):
#  1. enroll: N devices enroll (32 in flight), check in once, apply and report; enrollments/s.
#  2. hold: the servers are restarted (a fresh process per memory baseline), their RSS read from
#     /proc/PID/status (VmRSS) with nothing held; then the N devices long-poll (300 s) and the
#     RSS is read again once every long-poll is parked: (RSS holding N - RSS holding 0) / N.
#  3. convergence: the policy changes through the API; from just before that call until 50 %,
#     99 %, 100 % of the N devices' `succeeded` reports of the new configuration were
#     acknowledged (timestamps from the simulator, same clock); with the CPU time the servers and
#     the simulator used meanwhile (/proc/PID/stat), per device.
#  4. steady: STEADY_DEVICES of the fleet (default 2000, at most N) check in without long-poll,
#     each at most once per STEADY_INTERVAL_MS (default 250 ms: an offered 8,000/s from 2,000
#     devices), for STEADY_SECONDS (default 20) after WARM_UP seconds (default 5 + devices / 40,
#     so that every device is connected and has run its first cycle). Every answer
#     is "unchanged". Figures: check-ins/s, p50/p99 of the whole agent cycle (signed request +
#     the agent's state reads and health write; the HTTP request alone is not timed apart),
#     server CPU ms per check-in (/proc/PID/stat), simulator CPU ms per cycle (getrusage).
#     SQLite suite only: the same again with --no-session-reuse (agents re-read key and state
#     and build a signer every cycle, as before), to show the client-side cost of that.
#  5. ceiling (SQLite suite): the server stops and `palisade-bench ceiling` (a bare Hummingbird
#     POST route answering "unchanged", same certificate, same port) is loaded by the same
#     devices and phase as 4; the check-in rate is reported as a share of it.
#
# Environment: PALISADE_BIN (default .build/release/palisade), PALISADE_BENCH_BIN (default
# .build/release/palisade-bench), PORT (18443), PORT2 (18444), STEADY_DEVICES, STEADY_SECONDS,
# STEADY_INTERVAL_MS, WARM_UP, OUT, KEEP=1 keeps the temporary directory, STEADY=0 stops each
# suite after the convergence phase (no steady state, no ceiling), STOP_AFTER=hold ends each
# suite after the hold phase (enroll and memory only; scripts/bench-hold.sh measures the
# memory at several N without the simulator).
set -euo pipefail

N=${1:-1000}
BIN=${PALISADE_BIN:-.build/release/palisade}
BENCH_BIN=${PALISADE_BENCH_BIN:-.build/release/palisade-bench}
PORT=${PORT:-18443}
PORT2=${PORT2:-18444}
STEADY_DEVICES=${STEADY_DEVICES:-2000}
[ "$STEADY_DEVICES" -gt "$N" ] && STEADY_DEVICES=$N
STEADY_SECONDS=${STEADY_SECONDS:-20}
STEADY_INTERVAL_MS=${STEADY_INTERVAL_MS:-250}
# A new simulator process connects its devices and runs the simulated Defender tool once per
# device before the first check-in (about 25 to 100 devices a second on a loaded machine): the
# warm-up must cover that ramp.
WARM_UP=${WARM_UP:-$((5 + STEADY_DEVICES / 40))}
PG_ADMIN_URL=${PALISADE_BENCH_POSTGRES_URL:-}
STOP_AFTER=${STOP_AFTER:-}
case "$STOP_AFTER" in ""|hold) ;; *) echo "STOP_AFTER is empty or hold, got $STOP_AFTER" >&2; exit 2 ;; esac
ENGINES=${ENGINES:-sqlite${PG_ADMIN_URL:+ postgres}}
OUT=${OUT:-bench-results/delivery-$N-$(date -u +%Y%m%dT%H%M%SZ)}
[ -x "$BIN" ] || { echo "no $BIN: run swift build -c release --product palisade (or set PALISADE_BIN)" >&2; exit 2; }
[ -x "$BENCH_BIN" ] || { echo "no $BENCH_BIN: run swift build -c release --product palisade-bench (or set PALISADE_BENCH_BIN)" >&2; exit 2; }
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 10 ] || { echo "N must be a whole number of at least 10, got $N" >&2; exit 2; }
case " $ENGINES " in *" postgres "*) [ -n "$PG_ADMIN_URL" ] || { echo "the postgres suite needs PALISADE_BENCH_POSTGRES_URL" >&2; exit 2; } ;; esac

# Every device holds a connection to the server, in both processes (the default hard limit is 20000).
ulimit -Hn 200000 2>/dev/null || true
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((N + 1000)) ] || { echo "the file-descriptor limit $(ulimit -n) is below N + 1000; run as root or raise the hard limit" >&2; exit 2; }

# A port already in use (another benchmark on the machine) would have the script measure that server.
for port in "$PORT" "$PORT2"; do
  if ss -Hltn "sport = :$port" | grep -q .; then echo "port $port is in use; set PORT / PORT2 to free ports" >&2; exit 2; fi
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/palisade-bench-delivery.XXXXXX)
RAW=$OUT/raw.json; echo '{}' > "$RAW"
SERVER_PIDS=() SIM_PID= PG_DATABASE=
# SIGTERM, then SIGKILL after 15 s: after the steady phase `palisade serve` took minutes to stop
# on SIGTERM in the first runs (a graceful-stop problem of its own, not measured here).
stop_servers() {
  local pid _
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 150); do
    local alive=0
    for pid in "${SERVER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then log "server $pid still running 15 s after SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}
cleanup() {
  [ -n "$SIM_PID" ] && { kill -INT "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; } || true
  stop_servers
  [ -n "$PG_DATABASE" ] && psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DATABASE" >/dev/null 2>&1 || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
# Interrupted or timed out: exit, so that the EXIT trap stops the processes and drops the database.
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
# record KEY VALUE: one figure into raw.json (VALUE is JSON).
record() { python3 - "$RAW" "$1" "$2" <<'PY'
import json, sys
path, key, value = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(path)); data[key] = json.loads(value); json.dump(data, open(path, "w"), indent=2, sort_keys=True)
PY
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g'; }
rss_kib() { local total=0 pid; for pid in "${SERVER_PIDS[@]}"; do total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"))); done; echo "$total"; }
# CPU seconds (user + system) of the server processes so far.
server_cpu() { local ticks=0 pid; for pid in "${SERVER_PIDS[@]}"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; python3 -c "print($ticks / $(getconf CLK_TCK))"; }
# Long-polls held by the servers now (each server's palisade_long_polls_held gauge, summed).
held_polls() {
  local total=0 port value
  for port in "${SERVER_PORTS[@]}"; do
    value=$(curl -sS --max-time 5 --cacert "$WORK/data/tls/ca.pem" -H "Authorization: Bearer $(cat "$WORK/data/admin-token")" \
      "https://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^palisade_long_polls_held / {print int($2)}')
    total=$((total + ${value:-0}))
  done
  echo "$total"
}
# CPU seconds of the running simulator so far.
sim_cpu() { python3 -c "print($(awk '{print $14 + $15}' "/proc/$SIM_PID/stat") / $(getconf CLK_TCK))"; }
server_fds() { local total=0 pid; for pid in "${SERVER_PIDS[@]}"; do total=$((total + $(ls "/proc/$pid/fd" | wc -l))); done; echo "$total"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# start_server NAME PORT ARGS...: a release server; waits until it answers.
start_server() {
  local name=$1 port=$2; shift 2
  "$BIN" serve --port "$port" --enrollment-rate-limit 1000000 --device-rate-limit 1000000 --log-level warning "$@" >> "$WORK/$name.log" 2>&1 &
  SERVER_PIDS+=($!)
  local pid=$! _
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; exit 1; }
    [ -f "$WORK/data/tls/ca.pem" ] && curl -sS -o /dev/null --cacert "$WORK/data/tls/ca.pem" "https://127.0.0.1:$port/api/v1/health" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$name did not start" >&2; exit 1
}

start_servers() {  # per suite: one SQLite server, or two replicas on one PostgreSQL database
  if [ "$ENGINE" = sqlite ]; then
    SERVER_PORTS=("$PORT")
    start_server server "$PORT" --data-dir "$WORK/data"
  else
    SERVER_PORTS=("$PORT" "$PORT2")
    start_server replica1 "$PORT" --data-dir "$WORK/data" --database "$PG_URL"
    start_server replica2 "$PORT2" --data-dir "$WORK/data2" --database "$PG_URL" \
      --tls-cert "$WORK/data/tls/server.pem" --tls-key "$WORK/data/tls/server-key.pem" --tls-ca "$WORK/data/tls/ca.pem"
  fi
}

# simulate NAME ARGS...: the fleet (run id "fleet" in WORK/fleet-ENGINE), in the background.
simulate() {
  local name=$1; shift
  "$BIN" simulate "${SERVERS[@]}" --ca-file "$WORK/data/tls/ca.pem" --token-file "$WORK/token" --platform-mix linux=100 \
    --run-id fleet --work-dir "$WORK/fleet-$ENGINE" --json "$WORK/$ENGINE-$name.json" "$@" 2> "$WORK/$ENGINE-$name.log" &
  SIM_PID=$!
}
stop_simulator() { kill -INT "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" || true; SIM_PID=; }

# steady NAME EXTRA...: STEADY_DEVICES devices check in without long-poll; records NAME.
steady() {
  local name=$1; shift
  log "$ENGINE: $name: $STEADY_DEVICES devices, no long-poll, one check-in per ${STEADY_INTERVAL_MS} ms each at most, ${STEADY_SECONDS} s after ${WARM_UP} s warm-up"
  simulate "$name" --reuse-enrolled --devices "$STEADY_DEVICES" --wait-seconds 0 --minimum-interval-ms "$STEADY_INTERVAL_MS" \
    --warm-up "$WARM_UP" --duration "$STEADY_SECONDS" "$@"
  sleep "$WARM_UP"
  local cpu0 t0 cpu1 t1
  cpu0=$(server_cpu); t0=$(now)
  wait "$SIM_PID" || { tail -5 "$WORK/$ENGINE-$name.log" >&2; exit 1; }
  SIM_PID=
  cpu1=$(server_cpu); t1=$(now)
  record "$ENGINE.$name" "$(python3 - "$WORK/$ENGINE-$name.json" "$cpu0" "$cpu1" "$t0" "$t1" "$(loadavg)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); cpu0, cpu1, t0, t1 = map(float, sys.argv[2:6])
n = r["summary"]["unchangedCheckIns"]
print(json.dumps({"checkIns": n, "perSecond": r["unchangedCheckInsPerSecond"], "cycle": r["unchangedCycleLatency"],
                  "serverCPUSeconds": cpu1 - cpu0, "serverCPUms": (cpu1 - cpu0) * 1000 / n if n else None,
                  "serverCPUShare": (cpu1 - cpu0) / (t1 - t0),
                  "simulatorCPUms": r.get("cpuMillisecondsPerCheckIn"), "errors": r["summary"]["errors"],
                  "errorSamples": r["errorSamples"], "loadAverage": sys.argv[6]}))
PY
)"
}

succeeded() { curl -sS --fail-with-body --cacert "$WORK/data/tls/ca.pem" "$API/policies/$POLICY/report?limit=1" -H "$AUTH" | json '["summary"].get("succeeded", 0)'; }

run_suite() {
  ENGINE=$1
  rm -rf "$WORK/data" "$WORK/data2"
  SERVERS=(--server "https://127.0.0.1:$PORT")
  if [ "$ENGINE" = postgres ]; then
    PG_DATABASE=palisade_bench_$(date +%s)_$$
    psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $PG_DATABASE" > /dev/null
    PG_URL=$(python3 -c "import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path='/' + sys.argv[2])))" "$PG_ADMIN_URL" "$PG_DATABASE")
    SERVERS+=(--server "https://127.0.0.1:$PORT2")
  fi
  log "== $ENGINE suite, N = $N, load average $(loadavg)"
  record "$ENGINE.loadAverageAtStart" "\"$(loadavg)\""
  start_servers
  API=https://127.0.0.1:$PORT/api/v1
  AUTH="Authorization: Bearer $(cat "$WORK/data/admin-token")"
  local CURL=(curl -sS --fail-with-body --cacert "$WORK/data/tls/ca.pem")
  GROUP=$("${CURL[@]}" -X POST "$API/groups" -H "$AUTH" -d '{"name":"every linux device","membershipRule":"device.platform -eq \"linux\""}' | json '["id"]')
  POLICY=$("${CURL[@]}" -X POST "$API/policies" -H "$AUTH" -d '{"name":"bench","platform":"linux","template":"antivirus","settings":{"cloudService.enabled":true,"cloudService.cloudBlockLevel":"high"}}' | json '["id"]')
  "${CURL[@]}" -X PUT "$API/policies/$POLICY/assignments" -H "$AUTH" -d "{\"include\":[\"$GROUP\"]}" > /dev/null
  "${CURL[@]}" -X POST "$API/enrollment-tokens" -H "$AUTH" -d "{\"name\":\"bench\",\"expiresInHours\":4,\"maxUses\":$((N + 10))}" | json '["token"]' > "$WORK/token"

  # 1. Enrollment: each device enrolls, checks in without long-poll, applies, reports, then idles.
  log "$ENGINE: enroll: $N devices (32 in flight), first configuration applied and reported"
  local start; start=$(now)
  simulate enroll --devices "$N" --wait-seconds 0 --minimum-interval-ms 86400000
  until [ "$(succeeded)" -ge "$N" ]; do
    kill -0 "$SIM_PID" 2>/dev/null || { tail -20 "$WORK/$ENGINE-enroll.log" >&2; exit 1; }
    sleep 1
  done
  local enrolled_after; enrolled_after=$(python3 -c "print(round($(now) - $start, 1))")
  stop_simulator
  record "$ENGINE.enroll" "$(python3 - "$WORK/$ENGINE-enroll.json" "$enrolled_after" "$(loadavg)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"perSecond": r["enrollmentsPerSecond"], "latency": r["enrollLatency"], "allSucceededAfterSeconds": float(sys.argv[2]),
                  "errors": r["summary"]["errors"], "errorSamples": r["errorSamples"], "loadAverage": sys.argv[3]}))
PY
)"

  # 2. Memory per held long-poll: fresh server processes, RSS with none held, then with N held.
  log "$ENGINE: hold: restarting the server(s) for a memory baseline"
  stop_servers
  start_servers
  sleep 3
  local rss0 fds0; rss0=$(rss_kib); fds0=$(server_fds)
  simulate hold --reuse-enrolled --devices "$N" --wait-seconds 300 --minimum-interval-ms 5000
  # Each new simulator process runs the simulated Defender tool once per device (a shell script)
  # before its first check-in: 10,000 devices took over 5 minutes to park on a loaded machine.
  local deadline=$((SECONDS + 120 + N / 10)) cpu_a cpu_b
  while :; do
    kill -0 "$SIM_PID" 2>/dev/null || { tail -20 "$WORK/$ENGINE-hold.log" >&2; exit 1; }
    cpu_a=$(server_cpu); sleep 1; cpu_b=$(server_cpu)
    # Parked: every device's long-poll held (the servers' palisade_long_polls_held gauges add
    # up to N; open connections alone also count devices backing off after a failed TLS
    # handshake) and the servers idle.
    if [ "$(held_polls)" -ge "$N" ] && python3 -c "import sys; sys.exit(0 if $cpu_b - $cpu_a < 0.05 else 1)"; then break; fi
    [ $SECONDS -lt $deadline ] || { echo "the $N long-polls were not all parked after $((120 + N / 10)) s" >&2; exit 1; }
  done
  sleep 2
  local rss1; rss1=$(rss_kib)
  record "$ENGINE.hold" "{\"held\": $N, \"rssKiBHoldingNone\": $rss0, \"rssKiBHoldingAll\": $rss1, \"kibPerHeldLongPoll\": $(python3 -c "print(round(($rss1 - $rss0) / $N, 2))"), \"servers\": ${#SERVER_PIDS[@]}, \"loadAverage\": \"$(loadavg)\"}"
  log "$ENGINE: hold: RSS $((rss0 / 1024)) MiB holding none, $((rss1 / 1024)) MiB holding $N"
  if [ "$STOP_AFTER" = hold ]; then
    stop_simulator; stop_servers
    if [ -n "$PG_DATABASE" ]; then psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DATABASE" > /dev/null; PG_DATABASE=; fi
    return 0
  fi

  # 3. Convergence after a policy change, with every device parked on its long-poll.
  log "$ENGINE: convergence: changing the policy"
  local changed api_done all_seen cpu_server0 cpu_sim0 cpu_server1 cpu_sim1
  cpu_server0=$(server_cpu); cpu_sim0=$(sim_cpu)
  changed=$(now)
  "${CURL[@]}" -X PUT "$API/policies/$POLICY" -H "$AUTH" -d '{"name":"bench","platform":"linux","template":"antivirus","settings":{"cloudService.enabled":true,"cloudService.cloudBlockLevel":"high_plus"}}' > /dev/null
  api_done=$(now)
  local give_up=$((SECONDS + 300))
  until [ "$(succeeded)" -ge "$N" ]; do
    [ $SECONDS -lt $give_up ] || { echo "no convergence within 300 s" >&2; break; }
    sleep 0.25
  done
  all_seen=$(now)
  cpu_server1=$(server_cpu); cpu_sim1=$(sim_cpu)
  sleep 1
  stop_simulator
  record "$ENGINE.convergence" "$(python3 - "$WORK/$ENGINE-hold.json" "$N" "$changed" "$api_done" "$all_seen" "$(loadavg)" \
    "$cpu_server0" "$cpu_server1" "$cpu_sim0" "$cpu_sim1" <<'PY'
import json, math, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2]); changed, api_done, all_seen = map(float, sys.argv[3:6])
server_cpu = float(sys.argv[8]) - float(sys.argv[7]); sim_cpu = float(sys.argv[10]) - float(sys.argv[9])
# Reports of configurations first seen after the change are the new revision's.
times = sorted(t for ts in r["succeededReportTimes"].values() if min(ts) > changed for t in ts)
def at(fraction):
    k = math.ceil(fraction * n)
    return round(times[k - 1] - changed, 3) if len(times) >= k else None
print(json.dumps({"devices": n, "p50Seconds": at(0.5), "p99Seconds": at(0.99), "p100Seconds": at(1.0), "reported": len(times),
                  "policyPutSeconds": round(api_done - changed, 3), "reportAPIShowedAllAfterSeconds": round(all_seen - changed, 3),
                  # CPU used from the change until every report was in (the machine's budget is cores x seconds).
                  "serverCPUSeconds": round(server_cpu, 2), "simulatorCPUSeconds": round(sim_cpu, 2),
                  "serverCPUMillisecondsPerDevice": round(server_cpu * 1000 / n, 2), "simulatorCPUMillisecondsPerDevice": round(sim_cpu * 1000 / n, 2),
                  "errors": r["summary"]["errors"], "errorSamples": r["errorSamples"], "loadAverage": sys.argv[6]}))
PY
)"

  if [ "${STEADY:-1}" = 0 ]; then
    stop_servers
    if [ -n "$PG_DATABASE" ]; then psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DATABASE" > /dev/null; PG_DATABASE=; fi
    return
  fi

  # 4. Steady state (and, on SQLite, the same with sessions re-read every cycle).
  steady steady
  [ "$ENGINE" = sqlite ] && steady steadyWithoutSessionReuse --no-session-reuse

  # 5. Ceiling: a bare Hummingbird endpoint at the same URL with the same certificate.
  stop_servers
  if [ "$ENGINE" = sqlite ]; then
    log "$ENGINE: ceiling: palisade-bench ceiling on port $PORT"
    "$BENCH_BIN" ceiling --port "$PORT" --tls-cert "$WORK/data/tls/server.pem" --tls-key "$WORK/data/tls/server-key.pem" > "$WORK/ceiling.log" 2>&1 &
    SERVER_PIDS+=($!)
    for _ in $(seq 1 100); do
      curl -sS -o /dev/null --cacert "$WORK/data/tls/ca.pem" -X POST -d '{}' "https://127.0.0.1:$PORT/device/v1/check-in" 2>/dev/null && break
      sleep 0.1
    done
    steady ceiling
    stop_servers
  fi
  if [ -n "$PG_DATABASE" ]; then psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DATABASE" > /dev/null; PG_DATABASE=; fi
}

record machine "{\"cores\": $(nproc), \"memoryGiB\": $(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo), \"kernel\": \"$(uname -r)\", \"binary\": \"$BIN\", \"n\": $N, \"steadyDevices\": $STEADY_DEVICES, \"steadyIntervalMs\": $STEADY_INTERVAL_MS, \"steadySeconds\": $STEADY_SECONDS, \"warmUpSeconds\": $WARM_UP, \"startedAt\": \"$(date -u +%FT%TZ)\"}"
for engine in $ENGINES; do run_suite "$engine"; done

python3 "$(dirname "$0")/bench-delivery-report.py" "$RAW" > "$OUT/results.md"
cp "$RAW" "$OUT/results.json"
cat "$OUT/results.md"
log "results in $OUT/results.json and $OUT/results.md"

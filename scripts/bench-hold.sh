#!/usr/bin/env bash
# Server memory per held long-poll at several N (issue 12: <= 10 KiB each, 20,000 held), on its
# own: no simulator, so that N can reach 20,000 on this machine and the slope can be fitted.
#
#   swift build -c release --product palisade && swift build -c release --product palisade-bench
#   scripts/bench-hold.sh [N ...]                    # default 1000 5000 10000 20000
#
# A release `palisade serve` on SQLite; the devices are seeded straight into its data directory
# (`palisade-bench checkin-seed`, as scripts/bench-checkin.sh does) and each measurement signs
# fresh single-use check-ins (`palisade-bench checkin-sign`). scripts/hold-long-polls.py (Python
# asyncio: a connection costs it far less CPU than the agent cycle of `palisade simulate`) is
# the client. For each transport (TLS, the default, and plain HTTP with --insecure-http) and
# each N, a fresh server process:
#   fresh   VmRSS a few seconds after start;
#   warm    N devices check in once without long-poll over 32 keep-alive connections (the
#           server's per-device caches filled, never N connections at once), VmRSS;
#   held    N devices long-poll (waitSeconds 300, one connection each); once the server's
#           palisade_long_polls_held gauge says N and its CPU is idle, VmRSS.
# Figures: (held - warm) / N, the cost of holding, and (held - fresh) / N, what
# scripts/bench-delivery.sh's hold phase measures (it includes the per-device caches); and the
# least-squares slope of (held - warm) over N with its intercept, as a single ratio at small N
# carries fixed costs (malloc arenas, first connections). Then SIGTERM, and how long the server
# took to stop with N held (held long-polls must end at once).
#
# Environment: PALISADE_BIN, PALISADE_BENCH_BIN (defaults .build/release/...), PORT (18445),
# TRANSPORTS ("tls http"), SERVER_ENV (e.g. "MALLOC_ARENA_MAX=2", put before the server
# command), OUT (default bench-results/hold-<time>), KEEP=1 keeps the temporary directory.
set -euo pipefail

POINTS=("$@")
[ ${#POINTS[@]} -gt 0 ] || POINTS=(1000 5000 10000 20000)
BIN=${PALISADE_BIN:-.build/release/palisade}
BENCH_BIN=${PALISADE_BENCH_BIN:-.build/release/palisade-bench}
PORT=${PORT:-18445}
TRANSPORTS=${TRANSPORTS:-tls http}
SERVER_ENV=${SERVER_ENV:-}
OUT=${OUT:-bench-results/hold-$(date -u +%Y%m%dT%H%M%SZ)}
HERE=$(cd "$(dirname "$0")" && pwd)
for binary in "$BIN" "$BENCH_BIN"; do [ -x "$binary" ] || { echo "no $binary: build it first (see the header)" >&2; exit 2; }; done
MAX=0
for n in "${POINTS[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 10 ] || { echo "each N must be a whole number of at least 10, got $n" >&2; exit 2; }
  [ "$n" -gt "$MAX" ] && MAX=$n
done
for transport in $TRANSPORTS; do
  case $transport in tls|http) ;; *) echo "TRANSPORTS holds tls and/or http, got $transport" >&2; exit 2 ;; esac
done
ulimit -Hn 200000 2>/dev/null || true
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The server needs a descriptor per held connection plus about 30 of its own (listener, epoll,
# database, logs); so does the client. A hard limit of 20,000 (this machine's, not raisable
# without CAP_SYS_RESOURCE) therefore allows at most about 19,900 held per process.
[ "$(ulimit -n)" -ge $((MAX + 64)) ] || { echo "the file-descriptor limit $(ulimit -n) is below N + 64 (largest N $MAX); raise the hard limit (as root: ulimit -Hn) or lower N" >&2; exit 2; }
if ss -Hltn "sport = :$PORT" | grep -q .; then echo "port $PORT is in use; set PORT to a free port" >&2; exit 2; fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/palisade-bench-hold.XXXXXX)
SERVER_PID= CLIENT_PID=
cleanup() {
  [ -n "$CLIENT_PID" ] && { kill "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null; } || true
  [ -n "$SERVER_PID" ] && { kill -KILL "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; } || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
# Waits until the server used under 5 ticks (50 ms) of CPU in a second.
wait_idle() { local a b; while :; do a=$(cpu_ticks); sleep 1; b=$(cpu_ticks); [ $((b - a)) -lt 5 ] && return 0; done; }
# The seeded store has no admin token on disk: the server runs with --metrics-public (loopback).
held_gauge() { curl -sS --fail "${CURL_TLS[@]}" "$URL/metrics" | awk '/^palisade_long_polls_held / {print int($2)}'; }

log "seeding $MAX devices into $WORK/data"
"$BENCH_BIN" checkin-seed --data-dir "$WORK/data" --devices "$MAX" --out "$WORK/devices.json" > /dev/null

RESULTS=$WORK/results.jsonl; : > "$RESULTS"
for transport in $TRANSPORTS; do
  for n in "${POINTS[@]}"; do
    # Fresh signatures for each measurement: they are single use and live 240 s.
    "$BENCH_BIN" checkin-sign --devices-file "$WORK/devices.json" --requests "$n" --wait-seconds 0 --out "$WORK/warm.tsv" > /dev/null
    "$BENCH_BIN" checkin-sign --devices-file "$WORK/devices.json" --requests "$n" --wait-seconds 300 --out "$WORK/hold.tsv" > /dev/null
    if [ "$transport" = tls ]; then EXTRA=(); SCHEME=https; else EXTRA=(--insecure-http); SCHEME=http; fi
    URL=$SCHEME://127.0.0.1:$PORT
    env $SERVER_ENV "$BIN" serve --data-dir "$WORK/data" --port "$PORT" --device-rate-limit 1000000 --metrics-public --log-level warning "${EXTRA[@]}" >> "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    CURL_TLS=(); [ "$transport" = tls ] && CURL_TLS=(--cacert "$WORK/data/tls/ca.pem")
    for _ in $(seq 1 300); do
      kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; exit 1; }
      { [ "$transport" = http ] || [ -f "$WORK/data/tls/ca.pem" ]; } && curl -sS -o /dev/null "${CURL_TLS[@]}" "$URL/api/v1/health" 2>/dev/null && break
      sleep 0.2
    done
    CLIENT=(python3 "$HERE/hold-long-polls.py" --url "$URL" --count "$n"); [ "$transport" = tls ] && CLIENT+=(--ca "$WORK/data/tls/ca.pem")
    sleep 3
    rss_fresh=$(rss_kib)

    log "$transport, N = $n: warm (each device checks in once, 32 connections); load average $(loadavg)"
    "${CLIENT[@]}" warm --requests "$WORK/warm.tsv" --concurrency 32 > "$WORK/warm.json"
    python3 - "$WORK/warm.json" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r["answered"].get("200", 0) != int(sys.argv[2]): sys.exit(f"warm-up: not every check-in answered 200: {r}")
PY
    wait_idle; sleep 2
    rss_warm=$(rss_kib)

    log "$transport, N = $n: hold (each device long-polls, 300 s)"
    started=$(date +%s.%N)
    "${CLIENT[@]}" hold --requests "$WORK/hold.tsv" --status "$WORK/hold-status.json" > "$WORK/hold.json" &
    CLIENT_PID=$!
    deadline=$((SECONDS + 120 + n / 50))
    while :; do
      kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$WORK/hold.json" >&2; exit 1; }
      [ "$(held_gauge)" = "$n" ] && break
      [ $SECONDS -lt $deadline ] || { echo "the $n long-polls were not all held after $((120 + n / 50)) s: $(held_gauge) held; $(cat "$WORK/hold-status.json")" >&2; exit 1; }
      sleep 1
    done
    parked_after=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
    wait_idle; sleep 2
    rss_held=$(rss_kib)
    anon_held=$(awk '/^Anonymous:/ {print $2}' "/proc/$SERVER_PID/smaps_rollup")
    fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status")
    load=$(loadavg)
    log "$transport, N = $n: RSS $((rss_fresh / 1024)) MiB fresh, $((rss_warm / 1024)) MiB warm, $((rss_held / 1024)) MiB holding $n (all held after $parked_after s)"

    answered_early=$(python3 -c "import json; print(sum(json.load(open('$WORK/hold-status.json'))['answered'].values()))")
    # Graceful stop with N held: the held long-polls must be answered at once.
    stop_started=$(date +%s.%N)
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    stopped_after=$(python3 -c "print(round($(date +%s.%N) - $stop_started, 2))")
    SERVER_PID=
    sleep 1
    kill "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" || true
    CLIENT_PID=
    python3 - "$WORK/hold.json" "$transport" "$n" "$rss_fresh" "$rss_warm" "$rss_held" "$anon_held" "$fds" "$threads" "$parked_after" "$stopped_after" "$load" "$SERVER_ENV" "$answered_early" >> "$RESULTS" <<'PY'
import json, sys
hold = json.load(open(sys.argv[1]))
transport, n, fresh, warm, held, anon, fds, threads = sys.argv[2], *map(int, sys.argv[3:10])
early = int(sys.argv[14])
print(json.dumps({"transport": transport, "held": n, "rssKiBFresh": fresh, "rssKiBWarm": warm, "rssKiBHeld": held, "anonymousKiBHeld": anon,
                  "kibPerHeldLongPoll": round((held - warm) / n, 2), "kibPerHeldFromFresh": round((held - fresh) / n, 2),
                  "kibPerDeviceCached": round((warm - fresh) / n, 2), "serverFDs": fds, "serverThreads": threads,
                  "allHeldAfterSeconds": float(sys.argv[10]), "stoppedAfterSeconds": float(sys.argv[11]),
                  "answeredBeforeStop": early, "answeredByStop": hold["answered"], "clientErrors": hold["errors"], "errorSamples": hold["errorSamples"],
                  "loadAverage": sys.argv[12], "serverEnvironment": sys.argv[13]}))
PY
  done
done

python3 - "$RESULTS" "$OUT" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
out = sys.argv[2]
fits = {}
for transport in sorted({r["transport"] for r in rows}):
    points = [(r["held"], r["rssKiBHeld"] - r["rssKiBWarm"]) for r in rows if r["transport"] == transport]
    if len(points) >= 2:
        mean_n = sum(n for n, _ in points) / len(points); mean_kib = sum(k for _, k in points) / len(points)
        slope = sum((n - mean_n) * (k - mean_kib) for n, k in points) / sum((n - mean_n) ** 2 for n, _ in points)
        fits[transport] = {"kibPerExtraHeldLongPoll": round(slope, 2), "interceptKiB": round(mean_kib - slope * mean_n)}
json.dump({"points": rows, "fits": fits}, open(f"{out}/results.json", "w"), indent=2)
lines = ["| transport | held | RSS fresh / warm / holding (MiB) | (holding - warm) / N | (holding - fresh) / N | all held after | stop with N held | answered early, client errors | load average |",
         "|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['transport']} | {r['held']:,} | {r['rssKiBFresh'] / 1024:.0f} / {r['rssKiBWarm'] / 1024:.0f} / {r['rssKiBHeld'] / 1024:.0f} | "
                 f"{r['kibPerHeldLongPoll']} KiB | {r['kibPerHeldFromFresh']} KiB | {r['allHeldAfterSeconds']} s | {r['stoppedAfterSeconds']} s | "
                 f"{r['answeredBeforeStop']}, {r['clientErrors']} | {r['loadAverage']} |")
for transport, fit in fits.items():
    lines.append(f"\n{transport}: least-squares slope {fit['kibPerExtraHeldLongPoll']} KiB per extra held long-poll, intercept {fit['interceptKiB']} KiB")
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
log "results in $OUT/results.json and $OUT/results.md"

#!/usr/bin/env bash
# HTTP load benchmark: create-and-confirm PaymentIntents (automatic capture, in-process
# simulator, no added latency), unique Idempotency-Key per request, wrk with 64 connections;
# on SQLite and on PostgreSQL, then pgbench TPC-B on the same PostgreSQL server.
#
#   benchmarks/run.sh                        # both backends, 30 s each
#   DURATION=20 BACKENDS=postgresql benchmarks/run.sh
#
# Environment (all optional):
#   DURATION=30           seconds of measured load per backend (and of pgbench)
#   WARMUP=5              seconds of unmeasured load before each measurement
#   CONNECTIONS=64 THREADS=2   wrk settings
#   BACKENDS="sqlite postgresql"
#   BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432   server (no database part)
#   BENCH_PG_DB=strongbox_bench  PGBENCH_DB=strongbox_pgbench  (both dropped and recreated)
#   PGBENCH_CLIENTS=8 PGBENCH_JOBS=2 PGBENCH_SCALE=10
#   STRONGBOX_RUN_WORKERS=true   run the background loops (outbox relay, recovery) in-process
#   WORKERS=1             API processes on PostgreSQL (`strongbox serve --processes N`); skipped,
#                         and said so in the summary, if serve has no such option; SQLite: 1
#   PROFILE=0             1: attach py-spy --gil (samples of the thread holding the GIL) during
#                         the measured run, writing gzipped folded stacks to results/; threads:
#                         py-spy's default mode instead (every thread not idle: running, native,
#                         or waiting to take the GIL back, so it shows where threads wait).
#                         Summarize with benchmarks/profile_summary.py. The figures of such a
#                         run include the profiler's overhead
#   KEEP_DB=0             1: keep the benchmark databases afterwards
#   STRONGBOX_RATE_LIMIT_PER_SECOND=1000000   per-key limit for the server under test (the load
#                         uses one key; the default keeps the limiter on but out of reach)
#   DRAIN_TIMEOUT=30      after the load, wait up to this long for the background queues
#                         (audit integration, outbox, webhook fan-out/deliveries) to empty
#                         (benchmarks/drain.py; reported per queue)
#   QUIET_WAIT=120 QUIET_MAX_CORES=0.3   before each measured run (and pgbench), wait up to
#                         QUIET_WAIT s for the machine's busy CPU to fall below QUIET_MAX_CORES
#                         (other sessions may be running tests); foreign CPU is recorded anyway
#
# Writes benchmarks/results/<timestamp>.json and .md (and the server logs next to them),
# prints the markdown summary. Every step has a time bound; servers are stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/benchmarks"
VENV=${VENV:-$ROOT/.venv}
PY="$VENV/bin/python"
STRONGBOX="$VENV/bin/strongbox"
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
((THREADS > CONNECTIONS)) && THREADS=$CONNECTIONS  # wrk needs connections >= threads
BACKENDS=${BACKENDS:-"sqlite postgresql"}
PG_URL=${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
PG_DB=${BENCH_PG_DB:-strongbox_bench}
PGBENCH_DB=${PGBENCH_DB:-strongbox_pgbench}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-8}
PGBENCH_JOBS=${PGBENCH_JOBS:-2}
PGBENCH_SCALE=${PGBENCH_SCALE:-10}
RUN_WORKERS=${STRONGBOX_RUN_WORKERS:-true}
WORKERS=${WORKERS:-1}
PROFILE=${PROFILE:-0}
KEEP_DB=${KEEP_DB:-0}
# All load comes from one API key: keep the per-key limiter running (its cost is part of a
# request) but far above what the benchmark can reach, so it never answers 429.
RATE_LIMIT=${STRONGBOX_RATE_LIMIT_PER_SECOND:-1000000}
QUIET_WAIT=${QUIET_WAIT:-120}
QUIET_MAX_CORES=${QUIET_MAX_CORES:-0.3}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$BENCH/results"
mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strongbox-bench.XXXXXX")

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ cleanup
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ "$KEEP_DB" != 1 ]] && command -v psql >/dev/null; then
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" \
      -c "DROP DATABASE IF EXISTS $PGBENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools
apt_install() {  # package...: install from Debian's packages, updating the lists if needed
  log "installing $* (Debian packages)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null
  fi
}

ensure_tools() {
  command -v wrk >/dev/null || apt_install wrk
  [[ -x /usr/bin/time ]] || apt_install time
  command -v curl >/dev/null || apt_install curl
  if [[ " $BACKENDS " == *" postgresql "* ]] && ! command -v pgbench >/dev/null; then
    apt_install postgresql-client  # Debian ships pgbench with the client
  fi
  [[ -x "$STRONGBOX" ]] || { log "no $STRONGBOX: create the venv and pip install -e . first"; exit 2; }
  if [[ "$PROFILE" != 0 && ! -x "$VENV/bin/py-spy" ]]; then
    log "installing py-spy into the venv"
    "$VENV/bin/pip" install -q py-spy
  fi
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Resident memory (kB) of a process plus its direct children (uvicorn worker processes).
rss_tree_kb() {
  ps -o rss= -p "$1" --ppid "$1" 2>/dev/null | awk '{s+=$1} END {print s+0}'
}

sample_rss() {  # pid outfile: keeps the peak in outfile, every 0.2 s, until pid exits
  local pid=$1 out=$2 peak=0 now
  echo 0 >"$out"
  while kill -0 "$pid" 2>/dev/null; do
    now=$(rss_tree_kb "$pid")
    if ((now > peak)); then peak=$now; echo "$peak" >"$out"; fi
    sleep 0.2
  done
}

# PostgreSQL sessions opened so far in the benchmark database (pg_stat_database, PG >= 14).
pg_sessions() {
  if [[ "$1" == postgresql ]]; then
    psql -At "$PG_URL/postgres" -c \
      "SELECT sessions FROM pg_stat_database WHERE datname = '$PG_DB'" 2>/dev/null || echo ""
  else
    echo ""
  fi
}

# The machine may be shared: wait (bounded) until other processes use little CPU, so that the
# measurement is not a measurement of someone else's test suite. The window's "foreign" CPU is
# recorded either way.
wait_quiet() {  # label [pid to leave out]
  local waited=0 busy="?"
  while ((waited < QUIET_WAIT)); do
    busy=$("$PY" "$BENCH/cpustat.py" busy 1 "${@:2}")
    if awk -v b="$busy" -v m="$QUIET_MAX_CORES" 'BEGIN {exit !(b <= m)}'; then return 0; fi
    ((waited == 0)) && log "$1: machine busy ($busy cores in use by others); waiting up to ${QUIET_WAIT}s"
    sleep 2
    waited=$((waited + 3))
  done
  ((QUIET_WAIT > 0)) && log "$1: machine still busy ($busy cores); measuring anyway (see foreign_cores)"
  return 0
}

serve_supports_processes() {
  local help  # (not a pipe into grep -q: with pipefail, an early grep exit fails the pipe)
  help=$(COLUMNS=200 "$STRONGBOX" serve --help 2>/dev/null || true)
  [[ "$help" == *--processes* ]]
}

# ------------------------------------------------------------------ one backend
SERVER_PID=""
run_backend() {
  local backend=$1
  local dir="$WORK/$backend" port key_json key server_log
  mkdir -p "$dir"
  server_log="$RESULTS/$STAMP-$backend-server.log"
  local -a env_cmd=(env -u STRONGBOX_DATABASE_URL STRONGBOX_DATA_DIR="$dir/data"
    STRONGBOX_RUN_WORKERS="$RUN_WORKERS" STRONGBOX_LOG_LEVEL="${STRONGBOX_LOG_LEVEL:-INFO}"
    STRONGBOX_RATE_LIMIT_PER_SECOND="$RATE_LIMIT"
    STRONGBOX_RATE_LIMIT_PER_ADDRESS_PER_SECOND="${STRONGBOX_RATE_LIMIT_PER_ADDRESS_PER_SECOND:-$RATE_LIMIT}")
  if [[ "$backend" == postgresql ]]; then
    log "postgresql: fresh database $PG_DB on ${PG_URL#*@}"
    psql -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" \
      -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB TEMPLATE template0" >/dev/null
    env_cmd+=(STRONGBOX_DATABASE_URL="$PG_URL/$PG_DB")
  else
    log "sqlite: fresh data directory $dir/data"
  fi

  # The merchant (and the schema: the CLI migrates) before the server starts.
  key_json=$(timeout 120 "${env_cmd[@]}" "$STRONGBOX" merchants create bench 2>"$dir/merchant.err") \
    || { cat "$dir/merchant.err" >&2; exit 1; }
  key=$(printf '%s' "$key_json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')

  local processes=1 note=""
  port=$(free_port)
  local -a serve_cmd=("$STRONGBOX" serve --host 127.0.0.1 --port "$port" --metrics-port 0)
  # `serve` decides with its own flag (default on), not STRONGBOX_RUN_WORKERS.
  [[ "$RUN_WORKERS" == false || "$RUN_WORKERS" == 0 ]] && serve_cmd+=(--no-workers)
  if ((WORKERS > 1)); then
    if [[ "$backend" == sqlite ]]; then
      note="WORKERS=$WORKERS not applied: SQLite allows one writer process; ran 1 process"
    elif serve_supports_processes; then
      processes=$WORKERS
      serve_cmd+=(--processes "$processes")
    else
      note="WORKERS=$WORKERS skipped: strongbox serve has no --processes option; ran 1 process"
    fi
    [[ -n "$note" ]] && log "$note"
  fi
  "${env_cmd[@]}" "${serve_cmd[@]}" >"$server_log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local ok=0
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then ok=1; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ((ok == 0)); then log "$backend: server did not start"; tail -50 "$server_log" >&2; exit 1; fi
  log "$backend: server pid $SERVER_PID on port $port"

  sample_rss "$SERVER_PID" "$dir/peak_rss_kb" &
  PIDS+=("$!")
  local sampler=$!

  local url="http://127.0.0.1:$port"
  local -a wrk_cmd=(wrk "-t$THREADS" "-c$CONNECTIONS" --timeout 10s -s "$BENCH/create_confirm.lua")
  wait_quiet "$backend" "$SERVER_PID"
  # Armed before the warm-up (its start-up is not in the measured window): looks at the
  # background queues as soon as the load has stopped.
  local drain_url="sqlite:///$dir/data/strongbox.db"
  [[ "$backend" == postgresql ]] && drain_url="$PG_URL/$PG_DB"
  "$PY" "$BENCH/drain.py" "$drain_url" --wait-file "$dir/load.end" \
    --wait-timeout $((WARMUP + DURATION + 180)) --timeout "${DRAIN_TIMEOUT:-30}" \
    >"$dir/drain.json" 2>"$dir/drain.err" &
  local drainer=$!
  PIDS+=("$drainer")
  if ((WARMUP > 0)); then
    log "$backend: warm-up ${WARMUP}s"
    timeout $((WARMUP + 30)) "${wrk_cmd[@]}" "-d${WARMUP}s" "$url" -- "$key" "warm$STAMP" \
      >"$dir/warmup.out" 2>&1 || { cat "$dir/warmup.out" >&2; exit 1; }
  fi

  local prof_pid=""
  if [[ "$PROFILE" != 0 ]]; then
    local -a mode=(--gil) tag=gil
    [[ "$PROFILE" == threads ]] && { mode=(); tag=threads; }
    "$VENV/bin/py-spy" record "${mode[@]}" --nonblocking --rate 100 --format raw \
      --duration "$DURATION" --subprocesses -o "$RESULTS/$STAMP-$backend-$tag.folded" \
      --pid "$SERVER_PID" >"$dir/py-spy.out" 2>&1 &
    prof_pid=$!
    PIDS+=("$prof_pid")
  fi
  local db_name=none
  [[ "$backend" == postgresql ]] && db_name=$PG_DB
  local sessions0
  sessions0=$(pg_sessions "$backend")
  "$PY" "$BENCH/cpustat.py" watch "$SERVER_PID" "$db_name" "$dir/cpu-watch.json" &
  local watcher=$!
  PIDS+=("$watcher")
  log "$backend: measuring ${DURATION}s, $CONNECTIONS connections, $THREADS wrk threads"
  /usr/bin/time -f '%U %S' -o "$dir/wrk.time" \
    timeout $((DURATION + 60)) "${wrk_cmd[@]}" "-d${DURATION}s" "$url" -- "$key" "run$STAMP" \
    >"$dir/wrk.out" 2>&1 || { cat "$dir/wrk.out" >&2; exit 1; }
  # The load has stopped, the server and its loops still run: how long (from now) until the
  # background queues (audit integration, outbox relay, webhook fan-out and deliveries) are
  # empty (benchmarks/drain.py, armed above).
  date +%s.%N >"$dir/load.end"
  kill -TERM "$watcher"
  wait "$watcher" || true
  wait "$drainer" || log "$backend: drain check failed: $(tail -1 "$dir/drain.err")"
  local sessions1
  sessions1=$(pg_sessions "$backend")
  "$PY" "$BENCH/cpustat.py" finish "$dir/cpu-watch.json" \
    "$(awk 'END {print $1 + $2}' "$dir/wrk.time")" >"$dir/cpu.json"
  if [[ -n "$prof_pid" ]]; then
    wait "$prof_pid" || log "py-spy: $(tail -3 "$dir/py-spy.out")"
    gzip -9f "$RESULTS/$STAMP-$backend-"*.folded 2>/dev/null || true
  fi

  local hwm_kb
  hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
  local db_rows=""
  if [[ "$backend" == postgresql ]]; then
    db_rows=$(psql -At "$PG_URL/$PG_DB" -c \
      "SELECT count(*) FROM payment_intents WHERE status = 'succeeded'" 2>/dev/null || true)
  else
    db_rows=$("$PY" - "$dir/data/strongbox.db" <<'EOF' 2>/dev/null || true
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
print(c.execute("SELECT count(*) FROM payment_intents WHERE status = 'succeeded'").fetchone()[0])
EOF
)
  fi

  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true

  local errors
  errors=$(grep -cE ' (ERROR|WARNING|CRITICAL) |Traceback' "$server_log" || true)
  "$PY" - "$dir" "$backend" "$hwm_kb" "$(cat "$dir/peak_rss_kb")" "$processes" "$note" \
    "$errors" "${server_log#"$ROOT"/}" "$db_rows" "$sessions0" "$sessions1" <<'EOF'
import json, sys
d, backend, hwm, peak, procs, note, errors, server_log, rows, s0, s1 = sys.argv[1:12]
line = next(l for l in open(f"{d}/wrk.out") if l.startswith("BENCH_JSON "))
r = json.loads(line[len("BENCH_JSON "):])
warm = None
try:
    wl = next(l for l in open(f"{d}/warmup.out") if l.startswith("BENCH_JSON "))
    warm = json.loads(wl[len("BENCH_JSON "):])
except (OSError, StopIteration):
    pass
cpu = json.load(open(f"{d}/cpu.json"))
ok = r["requests"] - r["non200"]
out = {
    "backend": backend,
    "processes": int(procs),
    "note": note or None,
    "requests": r["requests"],
    "duration_s": r["duration_s"],
    # payments/s counts only 200 responses (a non-200 is not a payment)
    "payments_per_s": round(ok / r["duration_s"], 1),
    "requests_per_s": round(r["rps"], 1),
    "latency_ms": r["latency_ms"],
    "non2xx": r["non200"],
    "statuses": r["statuses"],
    "socket_errors": r["errors"],
    "server_cpu_cores": cpu["server_cores"],
    # CPU time per successful payment, from /proc (robust-ish to a shared machine)
    "server_cpu_ms_per_payment": round(1000 * cpu["server_cores"] * r["duration_s"] / ok, 2)
        if ok else None,
    "postgres_cpu_ms_per_payment": round(
        1000 * (cpu["postgres_bench_backends_cores"] + cpu["postgres_shared_cores"])
        * r["duration_s"] / ok, 2) if ok and backend == "postgresql" else None,
    "server_user_system_ms_per_payment": [
        round(1000 * cpu["server_user_cores"] * r["duration_s"] / ok, 2),
        round(1000 * cpu["server_system_cores"] * r["duration_s"] / ok, 2)] if ok else None,
    "server_context_switches_per_payment": round(
        (cpu["server_context_switches_per_s"]["voluntary"]
         + cpu["server_context_switches_per_s"]["involuntary"]) / (ok / r["duration_s"]))
        if ok else None,
    "cpu_cores": cpu,
    "new_db_connections": int(s1) - int(s0) if s0.isdigit() and s1.isdigit() else None,
    "peak_rss_mb": round(max(int(hwm or 0), int(peak or 0)) / 1024, 1),
    "server_log_problem_lines": int(errors or 0),
    "server_log": server_log,
    "succeeded_intents_in_db": int(rows) if rows.strip().isdigit() else None,
    "warmup": {"requests": warm["requests"], "non2xx": warm["non200"]} if warm else None,
}
try:  # benchmarks/drain.py: the background queues after the load
    out["drain"] = json.load(open(f"{d}/drain.json"))
except (OSError, ValueError):
    out["drain"] = None
json.dump(out, open(f"{d}/result.json", "w"), indent=2)
EOF
  log "$backend: $(cat "$dir/wrk.out" | grep BENCH_JSON | cut -c1-220)"
  ((errors > 0)) && log "$backend: $errors problem lines in $server_log"
  return 0
}

# ------------------------------------------------------------------ pgbench
run_pgbench() {
  local out="$WORK/pgbench.out"
  log "pgbench: initialize $PGBENCH_DB (scale $PGBENCH_SCALE)"
  psql -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" \
    -c "DROP DATABASE IF EXISTS $PGBENCH_DB WITH (FORCE)" -c "CREATE DATABASE $PGBENCH_DB TEMPLATE template0" >/dev/null
  timeout 600 pgbench -i -q -s "$PGBENCH_SCALE" "$PG_URL/$PGBENCH_DB" >"$WORK/pgbench-init.out" 2>&1 \
    || { cat "$WORK/pgbench-init.out" >&2; exit 1; }
  wait_quiet pgbench
  log "pgbench: TPC-B, $PGBENCH_CLIENTS clients, $PGBENCH_JOBS jobs, ${DURATION}s"
  "$PY" "$BENCH/cpustat.py" watch 0 "$PGBENCH_DB" "$WORK/pgbench-watch.json" &
  local watcher=$!
  PIDS+=("$watcher")
  /usr/bin/time -f '%U %S' -o "$WORK/pgbench.time" \
    timeout $((DURATION + 60)) pgbench -c "$PGBENCH_CLIENTS" -j "$PGBENCH_JOBS" -T "$DURATION" \
    "$PG_URL/$PGBENCH_DB" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
  kill -TERM "$watcher"
  wait "$watcher" || true
  "$PY" "$BENCH/cpustat.py" finish "$WORK/pgbench-watch.json" \
    "$(awk 'END {print $1 + $2}' "$WORK/pgbench.time")" >"$WORK/pgbench-cpu.json"
  "$PY" - "$out" "$WORK/pgbench.json" "$PGBENCH_CLIENTS" "$PGBENCH_JOBS" "$PGBENCH_SCALE" \
    "$DURATION" "$WORK/pgbench-cpu.json" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
cpu = json.load(open(sys.argv[7]))
cpu["pgbench_client_cores"] = cpu.pop("load_generator_cores")
cpu.pop("server_cores")
tps = float(re.search(r"^tps = ([0-9.]+)", text, re.M).group(1))
lat = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
pg_cores = cpu["postgres_bench_backends_cores"] + cpu["postgres_shared_cores"]
json.dump({"tps": round(tps, 1),
           "postgres_cpu_ms_per_tx": round(1000 * pg_cores / tps, 3) if tps else None,
           "latency_avg_ms": float(lat.group(1)) if lat else None,
           "clients": int(sys.argv[3]), "jobs": int(sys.argv[4]), "scale": int(sys.argv[5]),
           "duration_s": int(sys.argv[6]), "cpu_cores": cpu}, open(sys.argv[2], "w"), indent=2)
EOF
  log "pgbench: $(grep -E '^tps' "$out")"
}

# ------------------------------------------------------------------ main
ensure_tools
log "results: $RESULTS/$STAMP.json"
for b in $BACKENDS; do
  case "$b" in
    sqlite|postgresql) run_backend "$b" ;;
    *) log "unknown backend $b"; exit 2 ;;
  esac
done
if [[ " $BACKENDS " == *" postgresql "* ]]; then run_pgbench; fi

PROFILE="$PROFILE" "$PY" "$BENCH/summarize.py" "$WORK" "$RESULTS/$STAMP" \
  "duration=$DURATION" "warmup=$WARMUP" "connections=$CONNECTIONS" "threads=$THREADS" \
  "workers=$WORKERS" "run_workers=$RUN_WORKERS" "profile=$PROFILE" "backends=$BACKENDS" \
  "pg_server=${PG_URL#*@}"

#!/usr/bin/env bash
# The floor under every request: server CPU per request for requests that do (almost) nothing,
# on the embedded SQLite instance, with the same wrk settings as run.sh.
#
#   benchmarks/floor.sh            # DURATION=10 CONNECTIONS=64
#
#   GET /v1/nope       unknown route: HTTP parsing, middleware, routing, the 404 error renderer
#   GET /healthz       a sync endpoint (thread pool hand-off) running SELECT 1 in a read session
#   GET /v1/payment_intents/pi_missing   API-key authentication + a primary-key lookup → 404
#
# Prints requests/s and server CPU ms per request for each. Bounded in time; stops the server.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strongbox-floor.XXXXXX")
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export STRONGBOX_DATA_DIR="$WORK/data"
export STRONGBOX_RATE_LIMIT_PER_SECOND=${STRONGBOX_RATE_LIMIT_PER_SECOND:-1000000}
export STRONGBOX_RATE_LIMIT_PER_ADDRESS_PER_SECOND=${STRONGBOX_RATE_LIMIT_PER_ADDRESS_PER_SECOND:-1000000}
unset STRONGBOX_DATABASE_URL
KEY=$(timeout 120 "$VENV/bin/strongbox" merchants create floor \
  | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/strongbox" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  sleep 0.1
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

printf '%-40s %12s %22s\n' "request" "requests/s" "server CPU ms/request"
for path in /v1/nope /healthz /v1/payment_intents/pi_missing; do
  hdr=()
  [[ "$path" == /v1/payment_intents/* ]] && hdr=(-H "Authorization: Bearer $KEY")
  timeout 30 wrk -t2 "-c$CONNECTIONS" -d2s "${hdr[@]}" "http://127.0.0.1:$PORT$path" >/dev/null
  c0=$(cpu_ticks)
  timeout $((DURATION + 30)) wrk -t2 "-c$CONNECTIONS" "-d${DURATION}s" "${hdr[@]}" \
    "http://127.0.0.1:$PORT$path" >"$WORK/wrk.out"
  c1=$(cpu_ticks)
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  ms=$(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", 1000 * t / hz / n}')
  printf '%-40s %12s %22s\n' "GET $path" "$rps" "$ms"
done

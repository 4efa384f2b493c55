#!/usr/bin/env bash
# Payments benchmark with vaulted cards vs Stripe test payment methods, in the same run on the
# same server: create-and-confirm PaymentIntents (benchmarks/create_confirm.lua) alternating
# between `pm_card_visa` and a `pm_…` tokenized through POST /v1/payment_methods (so every
# confirm detokenizes in the vault and raises its audit event). SQLite, workers on.
#
#   benchmarks/vault_payments.sh            # DURATION=8 ROUNDS=2 CONNECTIONS=16
#
# Prints each run's BENCH_JSON line and the ratio vaulted/test per round (median at the end).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY="$VENV/bin/python"
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
if ! command -v wrk >/dev/null; then  # Debian's package; update the lists only if needed
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi

WORK=$(mktemp -d /tmp/strongbox-vault-payments.XXXXXX)
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

export STRONGBOX_DATA_DIR="$WORK/data" STRONGBOX_RATE_LIMIT_PER_SECOND=1000000
export STRONGBOX_LOG_LEVEL=WARNING
unset STRONGBOX_DATABASE_URL
keys=$(timeout 60 "$VENV/bin/strongbox" merchants create bench)
SK=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["secret_key"])' "$keys")
PK=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["publishable_key"])' "$keys")
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
STRONGBOX_PUBLIC_URL="$URL" "$VENV/bin/strongbox" serve --host 127.0.0.1 --port "$PORT" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$URL/healthz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

PM=$(curl -sf -u "$PK:" "$URL/v1/payment_methods" -d type=card \
  -d 'card[number]=4242424242424242' -d 'card[exp_month]=12' -d 'card[exp_year]=2034' \
  -d 'card[cvc]=123' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "vaulted payment method: $PM"

cpu_s() {  # user+system CPU seconds of the server process so far
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SERVER_PID/stat"
}

run() {  # pm label -> "rps cpu_ms_per_payment"
  local out before after
  before=$(cpu_s)
  out=$(STRONGBOX_BENCH_PM=$1 timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" \
    -d"${DURATION}s" -s "$ROOT/benchmarks/create_confirm.lua" "$URL" -- "$SK" "$2" | grep BENCH_JSON)
  after=$(cpu_s)
  echo "$2 ${out#BENCH_JSON }" >&2
  "$PY" -c '
import json, sys
d = json.loads(sys.argv[1]); assert d["non200"] == 0, d
print(d["rps"], round(1000 * (float(sys.argv[3]) - float(sys.argv[2])) / d["requests"], 3))
' "${out#BENCH_JSON }" "$before" "$after"
}

STRONGBOX_BENCH_PM=pm_card_visa timeout 30 wrk -t1 -c4 -d2s -s "$ROOT/benchmarks/create_confirm.lua" \
  "$URL" -- "$SK" "warm-test" >/dev/null
STRONGBOX_BENCH_PM=$PM timeout 30 wrk -t1 -c4 -d2s -s "$ROOT/benchmarks/create_confirm.lua" \
  "$URL" -- "$SK" "warm-vault" >/dev/null
ratios=()
cpus=()
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then
    read -r t tc <<<"$(run pm_card_visa "test-$r")"; read -r v vc <<<"$(run "$PM" "vault-$r")"
  else
    read -r v vc <<<"$(run "$PM" "vault-$r")"; read -r t tc <<<"$(run pm_card_visa "test-$r")"
  fi
  ratio=$("$PY" -c "print(round($v / $t, 3))")
  cpu=$("$PY" -c "print(round($tc / $vc, 3))")
  echo "round $r: test ${t}/s ${tc} ms CPU/payment, vaulted ${v}/s ${vc} ms CPU/payment;" \
    "vaulted/test throughput = $ratio, by server CPU per payment = $cpu"
  ratios+=("$ratio")
  cpus+=("$cpu")
done
# Throughput on a shared machine is noisy; server CPU per payment much less so.
"$PY" - "${ratios[*]}" "${cpus[*]}" <<'PY'
import statistics, sys
for name, arg in (("throughput", sys.argv[1]), ("server CPU per payment", sys.argv[2])):
    m = statistics.median(float(x) for x in arg.split())
    verdict = "reached" if m >= 0.85 else "NOT reached"
    print(f"median vaulted/test by {name} = {m:.3f} (target >= 0.85: {verdict})")
PY

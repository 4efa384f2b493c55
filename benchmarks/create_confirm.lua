-- wrk script: create-and-confirm a PaymentIntent with automatic capture, one request each.
--
--   wrk -t2 -c64 -d30s -s benchmarks/create_confirm.lua http://127.0.0.1:8080 -- sk_test_... [run-id]
--
-- The secret key comes from the first script argument or $STRONGBOX_BENCH_KEY. Every request
-- carries a unique Idempotency-Key: "<run-id>-<thread>-<counter>" (run-id defaults to the
-- start time plus a random number, so a warm-up run and the measured run never collide).
--
-- done() prints one line that starts with "BENCH_JSON " followed by a JSON object:
--   requests, duration_s, rps, non200 (count), statuses ({"code": count} for non-200),
--   socket errors, latency_ms {p50, p90, p99, max, mean}.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local key = nil
local run_id = nil
local path = "/v1/payment_intents"
-- $STRONGBOX_BENCH_PM: the payment method to confirm with (default pm_card_visa; a vaulted pm_…
-- for benchmarks/vault_payments.sh).
local body = "amount=2000&currency=usd&payment_method="
   .. (os.getenv("STRONGBOX_BENCH_PM") or "pm_card_visa") .. "&confirm=true"

function init(args)
   key = args[1] or os.getenv("STRONGBOX_BENCH_KEY")
   if key == nil or key == "" then
      error("pass the secret key as a script argument (-- sk_test_...) or STRONGBOX_BENCH_KEY")
   end
   run_id = args[2] or os.getenv("STRONGBOX_BENCH_RUN")
   if run_id == nil or run_id == "" then
      math.randomseed(os.time() + tid * 7919)
      run_id = string.format("%d%06d", os.time(), math.random(0, 999999))
   end
   non200 = 0
   statuses = {}
end

function request()
   counter = counter + 1
   return wrk.format("POST", path, {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, tid, counter),
   }, body)
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      local k = tostring(status)
      statuses[k] = (statuses[k] or 0) + 1
   end
end

function done(summary, latency, requests)
   local non = 0
   local merged = {}
   for _, t in ipairs(threads) do
      non = non + (t:get("non200") or 0)
      local st = t:get("statuses") or {}
      for code, n in pairs(st) do
         merged[code] = (merged[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(merged) do
      table.insert(parts, string.format('"%s": %d', code, n))
   end
   local secs = summary.duration / 1e6
   local e = summary.errors
   print(string.format(
      'BENCH_JSON {"requests": %d, "duration_s": %.3f, "rps": %.1f, "non200": %d, '
         .. '"statuses": {%s}, "errors": {"connect": %d, "read": %d, "write": %d, '
         .. '"status": %d, "timeout": %d}, "latency_ms": {"p50": %.2f, "p90": %.2f, '
         .. '"p99": %.2f, "max": %.2f, "mean": %.2f}}',
      summary.requests, secs, summary.requests / secs, non, table.concat(parts, ", "),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end

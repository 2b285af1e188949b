-- The load generator of bench/payments.ts: a wrk script (wrk 4, Debian package `wrk`, LuaJIT).
--
--   wrk -t THREADS -c CONNECTIONS -d SECONDS --timeout 30s -s bench/_payments-load.lua URL \
--     -- ORDERS TOKENS RUN THREADS
--
-- ORDERS holds one payment order id per line, TOKENS one access token per line; RUN names the run
-- (warm-up or measured) in the Idempotency-Keys; THREADS is wrk's -t. Thread n pays the orders at lines n, n + THREADS,
-- …, each once, from a random user's token; a thread that runs out starts again from its first
-- order, and paying an order twice is answered 409, which shows in `non_2xx` and `ran_out`.
-- One request in flight per connection (no pipelining), so wrk's own latency histogram has one
-- figure per request, from its write to its whole response. done() prints one JSON line with wrk's
-- own CPU time, read from /proc/self/stat (all its threads) as it ends.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local orders_file, tokens_file = args[1], args[2]
  run = args[3]
  local thread_total = tonumber(args[4])
  orders, tokens = {}, {}
  local n = 0
  for line in io.lines(orders_file) do
    if n % thread_total == thread_index then orders[#orders + 1] = line end
    n = n + 1
  end
  for line in io.lines(tokens_file) do tokens[#tokens + 1] = "Bearer " .. line end
  next_order, serial, ran_out = 1, 0, false
end

function request()
  if next_order > #orders then
    next_order = 1
    ran_out = true
  end
  local order = orders[next_order]
  next_order = next_order + 1
  serial = serial + 1
  return wrk.format("POST", "/v1/payment-orders/" .. order .. "/pay", {
    ["Authorization"] = tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, thread_index, serial),
  }, '{"method":"balance"}')
end

function done(summary, latency, requests)
  local any_ran_out = false
  for _, thread in ipairs(threads) do
    if thread:get("ran_out") then any_ran_out = true end
  end
  local stat = io.open("/proc/self/stat"):read("*a")
  -- Fields after the command's closing parenthesis: utime is the 12th, stime the 13th (clock ticks).
  local fields = {}
  for field in stat:sub(stat:find(")", 1, true) + 2):gmatch("%S+") do fields[#fields + 1] = field end
  local cpu_ticks = tonumber(fields[12]) + tonumber(fields[13])
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"non_2xx":%d,"socket_errors":%d,"elapsed":%.6f,"p50_ms":%.3f,"p99_ms":%.3f,"ran_out_of_orders":%s,"cpu_ticks":%d}\n',
    summary.requests, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    tostring(any_ran_out), cpu_ticks
  ))
end

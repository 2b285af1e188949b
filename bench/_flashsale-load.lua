-- The load generator of bench/flashsale.ts: a wrk script (wrk 4, Debian package `wrk`, LuaJIT).
--
--   wrk -t THREADS -c CONNECTIONS -d 3600s --timeout 60s -s bench/_flashsale-load.lua URL \
--     -- DIR PATH PIPELINING START_AT
--
-- DIR holds one file per thread, `thread-<n>.tsv`, written by the bench: a line `<users> <attempts>`,
-- then per user `<user>\t<bot 0|1>\t<Authorization>\t<JSON body>`, then per attempt `<index>\t<user>`
-- in the order the crowd sends them. Users are split between threads, so a user's attempts and
-- retries stay in one thread. Each request carries X-Request-Id: <attempt index>, which the server
-- echoes, so a response is matched to its simulated user whatever the connection or the pipelining.
-- Threads send from START_AT (ms since the epoch), when the server's clock reaches the sale's start.
-- Latency is taken per attempt, from the moment wrk asks for its request (it writes the batch at
-- once) to its response; wrk's own histogram has one figure per pipelined batch.
-- A thread that has its answers writes `done` on stderr; the bench then stops wrk (SIGINT) and
-- reads the JSON line `done()` prints.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } flashsale_timespec;
int clock_gettime(int clock, flashsale_timespec *tp);
int usleep(unsigned int usec);
]])
local timespec = ffi.new("flashsale_timespec")
local function clock_ms(clock)
  ffi.C.clock_gettime(clock, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end
-- CLOCK_MONOTONIC: the same clock in every thread, for the elapsed time.
local function now_ms() return clock_ms(1) end
-- CLOCK_REALTIME: the bench's Date.now(), for the start.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local dir, path = args[1], args[2]
  pipelining = tonumber(args[3])
  start_at = tonumber(args[4])
  started = false
  -- wrk calls request() once on thread 0 before anything is sent, to count the requests of a
  -- batch; that call is answered with a batch that is never sent.
  counting_call = thread_index == 0
  local lines = io.lines(string.format("%s/thread-%d.tsv", dir, thread_index))
  local user_count, attempt_count = lines():match("^(%d+) (%d+)$")
  user_count, attempt_count = tonumber(user_count), tonumber(attempt_count)
  headers_of, body_of, is_bot = {}, {}, {}
  for _ = 1, user_count do
    local user, bot, authorization, body = lines():match("^(%d+)\t(%d)\t([^\t]+)\t(.*)$")
    user = tonumber(user)
    is_bot[user] = bot == "1"
    headers_of[user] = authorization
    body_of[user] = body
  end
  schedule_index, schedule_user = {}, {}
  for i = 1, attempt_count do
    local index, user = lines():match("^(%d+)\t(%d+)$")
    schedule_index[i], schedule_user[i] = index, tonumber(user)
  end
  user_of_attempt, sent_at, latencies = {}, {}, {}
  next_attempt, sent, answered = 1, 0, 0
  key_serial = 0
  last_key = {}
  statuses, genuine_held, bots_held = {}, {}, {}
  path_of_attempts = path
  first_sent_ms, last_answer_ms = nil, nil
end

-- Genuine users retry now and then with the Idempotency-Key of their last attempt (half of their
-- later attempts): a timeout in real life. Bots never do.
local function attempt_request(i)
  local user = schedule_user[i]
  local key = last_key[user]
  if is_bot[user] or key == nil or math.random() >= 0.5 then
    key_serial = key_serial + 1
    key = string.format("t%d-%d-%08x", thread_index, key_serial, math.random(0, 0x7fffffff))
  end
  if not is_bot[user] then last_key[user] = key end
  user_of_attempt[schedule_index[i]] = user
  sent_at[schedule_index[i]] = batch_sent_ms
  return wrk.format("POST", path_of_attempts, {
    ["Authorization"] = headers_of[user],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key,
    ["X-Request-Id"] = schedule_index[i],
  }, body_of[user])
end

function delay()
  -- A connection with nothing left to send waits (until the bench stops wrk) instead of spinning.
  if next_attempt > #schedule_index and not counting_call then return 3600000 end
  return 0
end

function request()
  if counting_call then
    counting_call = false
    local batch = {}
    for i = 1, pipelining do batch[i] = wrk.format("GET", "/health") end
    return table.concat(batch)
  end
  if not started then
    -- Blocks this thread only, before its connections have sent anything.
    while clock_ms(0) < start_at do ffi.C.usleep(1000) end
    started = true
    first_sent_ms = now_ms()
  end
  batch_sent_ms = now_ms()
  local batch = {}
  for _ = 1, pipelining do
    if next_attempt > #schedule_index then break end
    batch[#batch + 1] = attempt_request(next_attempt)
    next_attempt = next_attempt + 1
    sent = sent + 1
  end
  return table.concat(batch)
end

function response(status, headers, body)
  local index = headers["x-request-id"]
  local user = user_of_attempt[index]
  if user == nil then return end
  answered = answered + 1
  last_answer_ms = now_ms()
  latencies[answered] = last_answer_ms - sent_at[index]
  statuses[status] = (statuses[status] or 0) + 1
  -- Slowed down (429), challenged or blocked (403 with those codes): held by the anti-scalper rules.
  local held = status == 429
    or (status == 403 and (body:find("STORE_CHALLENGE_REQUIRED", 1, true)
      or body:find("STORE_ATTEMPT_BLOCKED", 1, true)))
  if held then
    if is_bot[user] then bots_held[user] = true else genuine_held[user] = true end
  end
  if answered == #schedule_index then io.stderr:write("done\n") end
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

function done(summary, latency, requests)
  local result = { attempts = 0, genuine = 0, bots = 0, statuses = {} }
  local first, last = math.huge, 0
  local all = {}
  for _, thread in ipairs(threads) do
    for _, ms in ipairs(thread:get("latencies")) do all[#all + 1] = ms end
    result.attempts = result.attempts + thread:get("answered")
    result.genuine = result.genuine + count(thread:get("genuine_held"))
    result.bots = result.bots + count(thread:get("bots_held"))
    for status, n in pairs(thread:get("statuses")) do
      result.statuses[status] = (result.statuses[status] or 0) + n
    end
    first = math.min(first, thread:get("first_sent_ms") or math.huge)
    last = math.max(last, thread:get("last_answer_ms") or 0)
  end
  table.sort(all)
  local function percentile(p)
    if #all == 0 then return 0 end
    return all[math.min(#all, math.floor(p / 100 * #all) + 1)]
  end
  local parts = {}
  for status, n in pairs(result.statuses) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
  io.write(string.format(
    '{"attempts":%d,"elapsed":%.6f,"p50_ms":%.3f,"p99_ms":%.3f,"statuses":{%s},"genuine_users_held":%d,"bots_held":%d,"errors":%d}\n',
    result.attempts, (last - first) / 1000, percentile(50), percentile(99),
    table.concat(parts, ","), result.genuine, result.bots,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  ))
end

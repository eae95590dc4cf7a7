-- ingress_chat.lua — wrk script for POST /api/{tenant}/chat (tests/bench/bench_ingress.py).
--
-- Environment: BENCH_TENANT, BENCH_TOKEN (a user JWT for that tenant), BENCH_MESSAGE (optional).
-- Every response that is not 202 is counted per status; done() prints one JSON line
-- `WRK_RESULT {...}` with requests, accepted (202), statuses, socket errors and latency
-- percentiles (microseconds, over all responses) for the caller to parse.

local tenant = os.getenv("BENCH_TENANT") or "bench"
local token = os.getenv("BENCH_TOKEN") or ""
local message = os.getenv("BENCH_MESSAGE") or "benchmark message"

wrk.method = "POST"
wrk.path = "/api/" .. tenant .. "/chat"
wrk.body = '{"message":"' .. message .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  sample = nil
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
  if status ~= 202 and sample == nil then
    sample = k .. " " .. string.sub(body or "", 1, 200)
  end
end

local function jstr(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local all = {}
  local samples = {}
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    for k, v in pairs(st) do
      all[k] = (all[k] or 0) + v
    end
    local s = t:get("sample")
    if s then
      table.insert(samples, jstr(s))
    end
  end
  local parts = {}
  for k, v in pairs(all) do
    table.insert(parts, jstr(k) .. ":" .. v)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"accepted":%d,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"non202_samples":[%s]}\n',
    summary.duration, summary.requests, all["202"] or 0, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(samples, ",")))
end

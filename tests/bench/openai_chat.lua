-- openai_chat.lua — wrk script for tests/bench/bench_openai.py: one POST with a fixed body.
--
-- Environment: BENCH_PATH (e.g. /v1/chat/completions), BENCH_BODY (JSON text), BENCH_TOKEN
-- (bearer credential), BENCH_OK (the status that counts as done, e.g. 200). done() prints one
-- JSON line `WRK_RESULT {...}`: requests, ok, statuses, socket errors, latency percentiles
-- (microseconds, over all responses) and a sample of the first other answer per thread.

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
local ok_status = tonumber(os.getenv("BENCH_OK") or "200")

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
  if status ~= ok_status and sample == nil then
    sample = k .. " " .. string.sub(body or "", 1, 200)
  end
end

local function jstr(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local all, samples, parts = {}, {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      all[k] = (all[k] or 0) + v
    end
    local s = t:get("sample")
    if s then
      table.insert(samples, jstr(s))
    end
  end
  for k, v in pairs(all) do
    table.insert(parts, jstr(k) .. ":" .. v)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"ok":%d,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"p50_us":%d,"p99_us":%d,"samples":[%s]}\n',
    summary.duration, summary.requests, all[tostring(ok_status)] or 0, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99),
    table.concat(samples, ",")))
end

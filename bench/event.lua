-- event.lua: wrk script of the Event Gateway benchmark (bench/run.sh).
--
-- Every request is a POST / of one CloudEvents 1.0 event in structured mode
-- (Content-Type: application/cloudevents+json) with an id unique in the run
-- (run tag, wrk thread, counter), so that events spread over the events
-- topic's partitions (the key is the id) as real traffic would.
--
-- The data is a string of DATA_BYTES random base64 characters, one of PADS
-- made at the start and taken in turn: records of the same size as real
-- events that, like them, do not compress to nothing (the router compresses
-- its fan-out, lz4, whose 64 KiB window does not reach back PADS records).
--
-- Arguments (after `--`): EVENT_TYPE [DATA_BYTES] [RUN_TAG]
-- At the end it prints one machine-readable line:
--   BENCH requests=N duration_us=N non2xx=N connect=N read=N write=N timeout=N
--         mean_us=N p50_us=N p90_us=N p99_us=N max_us=N
-- (wrk counts any status above 399 in non2xx.)

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local event_type = "bench.event"
local tag = "run"
local n = 0
local PADS = 256
local prefix, suffixes = nil, {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function random_text(bytes)
  local t = {}
  for i = 1, bytes do
    local k = math.random(1, 64)
    t[i] = B64:sub(k, k)
  end
  return table.concat(t)
end

function init(args)
  event_type = args[1] or event_type
  local bytes = tonumber(args[2] or "64") or 64
  tag = args[3] or tostring(os.time())
  math.randomseed(os.time() + (tid or 0))
  prefix = '{"specversion":"1.0","type":"' .. event_type ..
           '","source":"/bench/wrk","datacontenttype":"application/json","id":"' ..
           tag .. "-" .. tostring(tid) .. "-"
  for i = 1, PADS do
    suffixes[i] = '","data":{"pad":"' .. random_text(bytes) .. '"}}'
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/cloudevents+json"
end

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, prefix .. n .. suffixes[n % PADS + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "mean_us=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end

-- sync.lua: wrk script of the sync round-trip benchmark (bench/sync.sh).
--
-- Every request is a POST of a small JSON body (Content-Type:
-- application/json), the same against the function and against the gateway
-- (where it becomes an http.request event matching the sync subscription).
-- At the end it prints one machine-readable line:
--   BENCH requests=N duration_us=N non2xx=N connect=N read=N write=N timeout=N
--         mean_us=N p50_us=N p90_us=N p99_us=N max_us=N
-- (wrk counts any status above 399 in non2xx.)

wrk.method = "POST"
wrk.body = '{"bench":"sync","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "mean_us=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end

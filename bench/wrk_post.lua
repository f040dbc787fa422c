-- wrk script: POST the benchmark request (the file named by BENCH_REQUEST_FILE) and print the
-- summary as one JSON object, for bench/run.py.
local file = assert(io.open(os.getenv("BENCH_REQUEST_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end

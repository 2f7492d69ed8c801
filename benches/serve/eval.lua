-- wrk script for `fleetlab serve`: POST /api/v1/eval with the Autopilot rule,
-- counting only (limit 0), and a latency summary at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local rule = os.getenv("RULE") or 'device.devicePhysicalIds -any (_ -startsWith \\"[ZTDId]\\")'
local limit = os.getenv("LIMIT") or "0"
wrk.body = '{"rule": "' .. rule .. '", "limit": ' .. limit .. '}'

function done(summary, latency, requests)
  io.write(string.format("requests %d, errors %d (status %d, timeout %d)\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.errors.timeout))
  for _, p in pairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("p%g %.2f ms\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("mean %.2f ms, max %.2f ms, %.1f req/s\n", latency.mean / 1000, latency.max / 1000,
    summary.requests / (summary.duration / 1e6)))
end

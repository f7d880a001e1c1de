-- wrk script for bench/run.py. Arguments after `--` (key=value):
--   user=NAME        value of the request header x-user (default alice)
--   body=N           POST an N-byte lower-case body (default: GET, no body)
--   check=1          verify every response (wrk then parses each one, so only for checks):
--   expect_filter=V  x-filter must be V ("absent" = must not be there)
--   expect_seen=V    x-upstream-seen (the check upstream echoes the x-seen it got) must be V
--   expect_body=V    x-upstream-body (the check upstream's verdict on the body) must be V
--   limit=N          (with check=1) each thread stops after N responses (bench/soak.py --requests)
-- done() prints one line `WRKRESULT {...}` (JSON) with the totals and latency percentiles.

local threads = {}
local opts = {}

function setup(thread)
  table.insert(threads, thread)
end

local function parse(args)
  local o = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then o[k] = v end
  end
  return o
end

function init(args)
  opts = parse(args)
  wrk.headers["x-user"] = opts.user or "alice"
  local n = tonumber(opts.body or "0")
  if n > 0 then
    local unit = "abcdefghijklmnopqrstuvwxyz012345"
    wrk.method = "POST"
    wrk.body = string.rep(unit, math.floor(n / #unit) + 1):sub(1, n)
    wrk.headers["content-type"] = "application/octet-stream"
  end
  ok, bad, first_bad = 0, 0, ""
  limit = tonumber(opts.limit or "0")
  if opts.check == "1" then
    response = check_response
  end
end

local function matches(headers, name, want)
  if want == nil then return true end
  local got = headers[name]
  if want == "absent" then return got == nil end
  return got == want
end

function check_response(status, headers, body)
  if status == 200 and matches(headers, "x-filter", opts.expect_filter)
      and matches(headers, "x-upstream-seen", opts.expect_seen)
      and matches(headers, "x-upstream-body", opts.expect_body) then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = string.format("status=%s x-filter=%s x-upstream-seen=%s x-upstream-body=%s",
        tostring(status), tostring(headers["x-filter"]), tostring(headers["x-upstream-seen"]),
        tostring(headers["x-upstream-body"]))
    end
  end
  if limit > 0 and ok + bad >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local cok, cbad, cfirst = 0, 0, ""
  for _, t in ipairs(threads) do
    cok = cok + (t:get("ok") or 0)
    cbad = cbad + (t:get("bad") or 0)
    local fb = t:get("first_bad")
    if cfirst == "" and fb and fb ~= "" then cfirst = fb end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKRESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}, ' ..
    '"check": {"ok": %d, "bad": %d, "first_bad": "%s"}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    cok, cbad, cfirst:gsub('"', "'")))
end

-- wrk script: POST the lines of a file (one JSON transaction per line) in turn, cycling.
--   wrk -s scripts/bench/bodies.lua http://127.0.0.1:3000/predict -- bodies.jsonl
-- The peer's bench/bodies.lua (../shared/peers/python-lightgbm), plus one change: each pass
-- also gives every transaction a new trans_num. As there, each pass moves unix_time forward by
-- the file's span plus one day, so time keeps moving forward as in real traffic; and since
-- `fraud serve` answers a repeated (card, trans_num) from its idempotency record without
-- scoring it again, a new trans_num per pass makes every request a real decision, as it is
-- for the peer (which has no idempotency). Prints one JSON summary line on exit.
local heads, times, mids, tails = {}, {}, {}, {}
local span = 0
local next_body, pass = 0, 0

function init(args)
  local first, last
  for line in io.lines(args[1]) do
    local head, t, rest = line:match('^(.-"unix_time": )(%d+)(.*)$')
    -- split the rest of the line around the trans_num value
    local before, tn, after = line:match('^(.-"trans_num": ")(%x+)(".*)$')
    assert(head and before and #before < #head, "bodies need trans_num before unix_time")
    heads[#heads + 1] = before
    mids[#mids + 1] = tn .. head:sub(#before + #tn + 1)
    times[#times + 1] = tonumber(t)
    tails[#tails + 1] = rest
    first, last = math.min(first or t, t), math.max(last or t, t)
  end
  span = last - first + 86400
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  if next_body == #heads then
    next_body, pass = 0, pass + 1
  end
  next_body = next_body + 1
  local i = next_body
  local body = heads[i] .. string.format("p%d", pass) .. mids[i] .. string.format("%d", times[i] + pass * span) .. tails[i]
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "requests_per_s": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end

-- wrk script: a distinct generic alert per request, and a count of 202 answers.
-- Usage: wrk ... -s bench/distinct_alerts.lua URL -- RUN_ID
-- The title holds the run id, the thread and a counter, so every request is a new alert
-- (and a new incident) across threads and runs. done() prints one line the bench parses.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args)
  run = args[1] or "run"
  counter = 0
  accepted = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"service":"svc-%d","title":"%s-%d-%d disk filling up","severity":"high",' ..
    '"description":"bench","labels":{"n":"%d"}}', counter % 50, run, id, counter, counter)
  return wrk.format(nil, "/v1/alerts/generic", nil, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("accepted")
  end
  io.write(string.format("wrk-result requests=%d accepted=%d seconds=%.3f\n",
    summary.requests, total, summary.duration / 1e6))
end

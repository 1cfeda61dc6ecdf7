-- Counts responses per HTTP status in every wrk thread and prints the totals as one JSON line
-- ("phigate-bench statuses {...}") that bench/wrk.py reads.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(totals) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  io.write("phigate-bench statuses {" .. table.concat(parts, ", ") .. "}\n")
end

-- Spend one request from each of several GCRA buckets (phigate.guard.limits.gcra), atomically.
-- Per check i (1-based), KEYS[3i-2] is the bucket (its TAT, epoch microseconds), KEYS[3i-1] its
-- subject's control hash, KEYS[3i] the bucket a tightening adds; the three share one hash tag.
-- ARGV[5i-4 .. 5i]: interval (us), capacity, cost, peek (1: answer without spending), controlled
-- (1: honour the control hash). Each check is decided on its own. Returns five numbers per check:
-- allowed, remaining, retry_after_us, reset_us, blocked. Time is Redis's own clock, so every node
-- shares it. Numbers go to Redis through string.format('%d'): tostring would round them.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function judge(key, interval, capacity, cost, peek)
  local c = math.max(0, math.min(cost, capacity))
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local horizon = now + capacity * interval
  local after = tat + c * interval
  if after > horizon then
    return {0, math.max(0, math.floor((horizon - tat) / interval)), after - horizon, tat - now, 0}, nil
  end
  local kept = after
  if peek then kept = tat end
  return {1, math.floor((horizon - after) / interval), 0, kept - now, 0}, after
end

local function check(i)
  local interval, capacity, cost = tonumber(ARGV[5*i-4]), tonumber(ARGV[5*i-3]), tonumber(ARGV[5*i-2])
  local peek = ARGV[5*i-1] == '1'
  local buckets = {}
  if capacity < 1000000000 then
    buckets[#buckets + 1] = {KEYS[3*i-2], interval, capacity}
  end
  if ARGV[5*i] == '1' then
    local ctl = redis.call('HMGET', KEYS[3*i-1], 'blocked_until', 'interval', 'capacity', 'tightened_until')
    local blocked = tonumber(ctl[1])
    if blocked and blocked > now then
      return {0, 0, blocked - now, 0, 1}
    end
    local tightened = tonumber(ctl[4])
    if tightened and tightened > now and tonumber(ctl[2]) then
      buckets[#buckets + 1] = {KEYS[3*i], tonumber(ctl[2]), tonumber(ctl[3])}
    end
  end
  if #buckets == 0 then
    return {1, capacity, 0, 0, 0}
  end
  local verdict, writes = nil, {}
  for _, b in ipairs(buckets) do
    local v, after = judge(b[1], b[2], b[3], cost, peek)
    if after then writes[#writes + 1] = {b[1], after} end
    if verdict == nil
        or (v[1] == 0 and (verdict[1] == 1 or v[3] > verdict[3]))
        or (v[1] == 1 and verdict[1] == 1 and v[2] < verdict[2]) then
      verdict = v
    end
  end
  if verdict[1] == 1 and not peek then
    for _, w in ipairs(writes) do
      local ttl = string.format('%d', math.ceil((w[2] - now) / 1000) + 1)
      redis.call('SET', w[1], string.format('%d', w[2]), 'PX', ttl)
    end
  end
  return verdict
end

local out = {}
for i = 1, #KEYS / 3 do
  for _, n in ipairs(check(i)) do out[#out + 1] = n end
end
return out

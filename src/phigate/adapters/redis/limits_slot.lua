-- Take one of at most ARGV[1] concurrent slots of KEYS[1] (a sorted set: member -> lease end, us).
-- ARGV: limit, lease (us), member. Leases past their end are freed first (a node that died).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[3])
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(tonumber(ARGV[2]) / 1000) + 1))
return 1

--[[
  The shared record store (Backend.put_record and its siblings): one kind's records.

  KEYS[1]  R.data        the kind's HASH: key -> JSON value
  KEYS[2]  R.exp         its ZSET: key -> expiry ms (Redis clock)
  ARGV[1] 'put', 'get', 'list' or 'del'   ARGV[2] clock offset ms   ARGV[3] key
  'put': ARGV[4] value, ARGV[5] time to live ms ('' = never)
  Expired records are dropped first (bounded), and never returned.
  Returns put {1}; get {1, value} or {0}; list {1, key, value, ...}; del {1} or {0} (none).
]]
local now
do
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
end
local H, X = R.data, R.exp
local old = redis.call('ZRANGEBYSCORE', X, '-inf', now, 'LIMIT', 0, 1000)
if #old > 0 then
  redis.call('HDEL', H, unpack(old))
  redis.call('ZREM', X, unpack(old))
end
local function live(key)
  local exp = redis.call('ZSCORE', X, key)
  return not exp or tonumber(exp) > now
end
local op, key = ARGV[1], ARGV[3]
if op == 'put' then
  redis.call('HSET', H, key, ARGV[4])
  if ARGV[5] ~= '' then
    redis.call('ZADD', X, now + tonumber(ARGV[5]), key)
  else
    redis.call('ZREM', X, key)
  end
  return {1}
elseif op == 'get' then
  local value = redis.call('HGET', H, key)
  if value and live(key) then return {1, value} end
  return {0}
elseif op == 'list' then
  local out = {1}
  local all = redis.call('HGETALL', H)
  for i = 1, #all - 1, 2 do
    if live(all[i]) then
      out[#out + 1] = all[i]
      out[#out + 1] = all[i + 1]
    end
  end
  return out
else
  local there = redis.call('HEXISTS', H, key) == 1 and live(key)
  redis.call('HDEL', H, key)
  redis.call('ZREM', X, key)
  if there then return {1} end
  return {0}
end

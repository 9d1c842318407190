--[[
  Create a queue's meta HASH (SQS CreateQueue), or confirm it exists.

  KEYS[1..14]  the queue's keys
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3..] meta field, value pairs
  Keys left by an earlier incarnation (a delete interrupted half-way) are removed first.
  Returns {1, created_s, modified_s}.
]]
--- @include base

local Q = qkeys(0)
local now = now_ms(tonumber(ARGV[2]))
local m = redis.call('HMGET', Q.meta, 'inc', 'created', 'modified')
if m[1] == ARGV[1] then return {1, tonumber(m[2]), tonumber(m[3])} end
if m[1] then redis.call('UNLINK', unpack(KEYS, 1, 14)) end
local secs = math.floor(now / 1000)
redis.call('HSET', Q.meta, 'inc', ARGV[1], 'created', secs, 'modified', secs, 'seq', 0, 'ghosts', 0, 'qn', 0,
  unpack(ARGV, 3))
return {1, secs, secs}

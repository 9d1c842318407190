--[[
  Replace a queue's attributes (SQS SetQueueAttributes), atomically.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.notify      wake-ups for long polls
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3] the new spec (msgpack, as the client
  keeps it: queues.spec_blob)   ARGV[4..] meta field, value pairs (queues.meta_fields)
  The scripts read the attributes they act on from the meta HASH, so the change applies to the
  next call of every client; 'rev' goes up, so a client holding the older spec (to validate
  sends, to pick the DLQ's keys) is told by its next send or receive (E_STALE_SPEC) and reloads.
  A retention change moves 'xshift' by the difference: every queued message's retention ends
  at its enqueue time plus the new period (SQS: "will impact existing messages in the queue").
  The sweep bound 'wake' goes (receives sweep again). Long-polling receivers are woken (a shorter delay or retention may change what they see).
  Returns {1, revision}, or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local ret = M.ret
for i = 4, #ARGV - 1, 2 do
  if ARGV[i] == 'ret' then ret = tonumber(ARGV[i + 1]) end
end
redis.call('HSET', Q.meta, unpack(ARGV, 4))
redis.call('HSET', Q.meta, 'spec', ARGV[3], 'modified', math.floor(now / 1000),
  'xshift', fmt_int(M.shift + ret - M.ret))
redis.call('HDEL', Q.meta, 'wake')  -- retention moved every expiry: the next receive sweeps
local rev = redis.call('HINCRBY', Q.meta, 'rev', 1)
signal(Q)
return {1, tostring(rev)}

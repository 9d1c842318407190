--[[
  Delete every message of a queue, visible, in flight, delayed or quarantined (SQS PurgeQueue).

  KEYS[1..14]  the queue's keys
  ARGV[1] incarnation
  The FIFO deduplication window survives a purge, as on SQS. Returns {1}, or {-1}.
]]
--- @include base

local Q = qkeys(0)
local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
redis.call('UNLINK', Q.ready, Q.inflight, Q.delayed, Q.expiry, Q.msgs, Q.errors,
  Q.gmsgs, Q.groups, Q.gin, Q.quarantine)
redis.call('HSET', Q.meta, 'ghosts', 0, 'qn', 0)
return {1}

--[[
  Delete every message of a queue, visible, in flight, delayed or quarantined (SQS PurgeQueue).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.inflight    id -> visibility deadline
  KEYS[4]  Q.delayed     id -> visible-at
  KEYS[5]  Q.expiry      id -> retention deadline
  KEYS[6]  Q.msgs        envelopes and states
  KEYS[7]  Q.errors      last recorded failures
  KEYS[8]  Q.gmsgs       FIFO: messages by group
  KEYS[9]  Q.groups      FIFO: groups ready to serve
  KEYS[10] Q.gin         FIFO: in flight per group
  KEYS[11] Q.quarantine  messages set aside
  ARGV[1] incarnation   ARGV[2] clock offset ms
  The FIFO deduplication window survives a purge (SQS forgets it; README lists the difference).
  One purge per queue every 60 s (SQS PurgeQueueInProgress): the time of the last one is meta
  field 'purged'.
  Returns {1}, {-4, ms until the next purge is allowed}, or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local last = tonumber(redis.call('HGET', Q.meta, 'purged') or '')
if last and now - last < 60000 then return {-4, last + 60000 - now} end
redis.call('HSET', Q.meta, 'purged', fmt_int(now))
redis.call('UNLINK', Q.ready, Q.inflight, Q.delayed, Q.expiry, Q.msgs, Q.errors,
  Q.gmsgs, Q.groups, Q.gin, Q.quarantine)
redis.call('HSET', Q.meta, 'ghosts', 0, 'qn', 0)
return {1}

--[[
  Create a queue (SQS CreateQueue) on a single node: its registry entry and its meta HASH in one
  step, so no client ever sees one without the other.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.inflight    id -> visibility deadline
  KEYS[4]  Q.delayed     id -> visible-at
  KEYS[5]  Q.expiry      id -> retention deadline
  KEYS[6]  Q.msgs        envelopes and states
  KEYS[7]  Q.errors      last recorded failures
  KEYS[8]  Q.notify      wake-ups for long polls
  KEYS[9]  Q.gmsgs       FIFO: messages by group
  KEYS[10] Q.groups      FIFO: groups ready to serve
  KEYS[11] Q.gin         FIFO: in flight per group
  KEYS[12] Q.dedup       FIFO: deduplication ids
  KEYS[13] Q.dedupx      FIFO: their windows
  KEYS[14] Q.quarantine  messages set aside
  KEYS[15] G.registry    the queue registry HASH
  ARGV[1] queue name   ARGV[2] registration (msgpack)   ARGV[3] 'new' or 'same'
  ARGV[4] incarnation  ARGV[5] clock offset ms           ARGV[6..] meta field, value pairs
  'new': register it unless the name is registered. 'same': only when the registry holds exactly
  this registration (confirm it, or finish a queue an older qworker left half-made).
  Keys of an earlier incarnation are removed first.
  Returns {1, created_s, modified_s}, or {0, registration now} / {0} when the condition failed.
]]
--- @include core
--- @include base
--- @include lifecycle

local current = redis.call('HGET', G.registry, ARGV[1])
if ARGV[3] == 'new' then
  if current then return {0, current} end
elseif current ~= ARGV[2] then
  if current then return {0, current} end
  return {0}
end
local made = make_queue(Q, ARGV[4], now_ms(tonumber(ARGV[5])), 6, false)
if ARGV[3] == 'new' then redis.call('HSET', G.registry, ARGV[1], ARGV[2]) end
return made

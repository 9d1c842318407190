--[[
  Delete a queue and all its messages (SQS DeleteQueue) on a single node: its registry entry and
  its keys in one step. UNLINK frees memory off the main thread.

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
  ARGV[1] queue name   ARGV[2] registration the caller read (msgpack)   ARGV[3] its incarnation
  Does nothing unless the registry still holds exactly that registration: a queue deleted and
  created again since is another incarnation, and not the caller's to delete.
  Returns {1}, or {-1} when that registration is gone.
]]
--- @include core
--- @include base
--- @include lifecycle

if redis.call('HGET', G.registry, ARGV[1]) ~= ARGV[2] then return {E_NO_QUEUE} end
redis.call('HDEL', G.registry, ARGV[1])
drop_queue(Q, ARGV[3], 0)
return {1}

--[[
  Make a queue's meta HASH (SQS CreateQueue), or confirm it exists: the Cluster half of a create,
  run after the registry entry was added (HSETNX), by its creator or by a client that found the
  registry naming an incarnation whose keys are not made yet.

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
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3..] meta field, value pairs
  Keys left by an older incarnation are removed first. Fenced (see includes/lifecycle.lua): a
  newer incarnation or a delete of this one (tombstone) wins.
  Returns {1, created_s, modified_s}, or {0} when fenced off.
]]
--- @include core
--- @include base
--- @include lifecycle

return make_queue(Q, ARGV[1], now_ms(tonumber(ARGV[2])), 3, true) or {0}

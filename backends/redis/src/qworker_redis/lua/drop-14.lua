--[[
  Delete one incarnation of a queue and all its messages (SQS DeleteQueue): the Cluster half of
  a delete, run after the registry entry was removed. UNLINK frees memory off the main thread.

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
  ARGV[1] incarnation   ARGV[2] how long the tombstone lasts (ms)
  A newer incarnation is left alone (see includes/lifecycle.lua).
  Returns {1} when the incarnation was there, {0} when it was not.
]]
--- @include core
--- @include base
--- @include lifecycle

return {drop_queue(Q, ARGV[1], tonumber(ARGV[2]))}

--[[
  Make a queue's meta HASH (SQS CreateQueue), or confirm it exists: the Cluster half of a create,
  run after the registry entry was added (HSETNX), by its creator or by a client that found the
  registry naming an incarnation whose keys are not made yet.

  KEYS[1..14]  the queue's keys
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3..] meta field, value pairs
  Keys left by an older incarnation are removed first. Fenced (see includes/lifecycle.lua): a
  newer incarnation or a delete of this one (tombstone) wins.
  Returns {1, created_s, modified_s}, or {0} when fenced off.
]]
--- @include base
--- @include lifecycle

return make_queue(qkeys(0), ARGV[1], now_ms(tonumber(ARGV[2])), 3, true) or {0}

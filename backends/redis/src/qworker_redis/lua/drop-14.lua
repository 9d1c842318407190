--[[
  Delete one incarnation of a queue and all its messages (SQS DeleteQueue): the Cluster half of
  a delete, run after the registry entry was removed. UNLINK frees memory off the main thread.

  KEYS[1..14]  the queue's keys
  ARGV[1] incarnation   ARGV[2] how long the tombstone lasts (ms)
  A newer incarnation is left alone (see includes/lifecycle.lua).
  Returns {1} when the incarnation was there, {0} when it was not.
]]
--- @include base
--- @include lifecycle

return {drop_queue(qkeys(0), ARGV[1], tonumber(ARGV[2]))}

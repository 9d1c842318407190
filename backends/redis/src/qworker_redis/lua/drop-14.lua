--[[
  Delete a queue and all its messages (SQS DeleteQueue). UNLINK frees memory off the main thread.

  KEYS[1..14]  the queue's keys
  ARGV[1] incarnation ('' = whatever is there)
  Returns {1}, or {-1} when no such queue.
]]
--- @include base

local inc = redis.call('HGET', KEYS[1], 'inc')
if not inc or (ARGV[1] ~= '' and inc ~= ARGV[1]) then return {E_NO_QUEUE} end
redis.call('UNLINK', unpack(KEYS, 1, 14))
return {1}

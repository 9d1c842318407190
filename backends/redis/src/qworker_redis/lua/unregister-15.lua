--[[
  Delete a queue and all its messages (SQS DeleteQueue) on a single node: its registry entry and
  its keys in one step. UNLINK frees memory off the main thread.

  KEYS[1..14]  the queue's keys   KEYS[15] the registry HASH
  ARGV[1] queue name   ARGV[2] registration the caller read (msgpack)   ARGV[3] its incarnation
  Does nothing unless the registry still holds exactly that registration: a queue deleted and
  created again since is another incarnation, and not the caller's to delete.
  Returns {1}, or {-1} when that registration is gone.
]]
--- @include base
--- @include lifecycle

if redis.call('HGET', KEYS[15], ARGV[1]) ~= ARGV[2] then return {E_NO_QUEUE} end
redis.call('HDEL', KEYS[15], ARGV[1])
drop_queue(qkeys(0), ARGV[3], 0)
return {1}

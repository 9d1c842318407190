--[[
  Remove a queue's registry entry if it is still the one the caller read: the first half of a
  delete on Redis Cluster, where the registry is in another hash slot than the queue's keys
  (drop-14.lua then removes that incarnation's keys).

  KEYS[1]  G.registry    the queue registry HASH
  ARGV[1] queue name   ARGV[2] registration the caller read (msgpack)
  Returns {1}, or {-1} when the registry holds something else (or nothing).
]]
local E_NO_QUEUE = -1

if redis.call('HGET', G.registry, ARGV[1]) ~= ARGV[2] then return {E_NO_QUEUE} end
redis.call('HDEL', G.registry, ARGV[1])
return {1}

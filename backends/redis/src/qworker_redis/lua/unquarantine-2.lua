--[[
  Drop quarantined messages for good, or take restored ones out (T16).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.quarantine  messages set aside
  ARGV[1] incarnation   ARGV[2] '1' = every quarantined message, else ARGV[3..] ids
  Returns {1, removed}, or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
if ARGV[2] == '1' then
  local n = quarantine_count(Q)
  redis.call('UNLINK', Q.quarantine)
  redis.call('HSET', Q.meta, 'qn', 0)
  return {1, n}
end
local removed = 0
for i = 3, #ARGV do
  if unquarantine(Q, ARGV[i]) then removed = removed + 1 end
end
return {1, removed}

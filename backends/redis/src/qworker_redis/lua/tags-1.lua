--[[
  A queue's tags (SQS TagQueue, UntagQueue, ListQueueTags): meta HASH fields 'tag:KEY'.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  ARGV[1] incarnation   ARGV[2] 'list', 'add' or 'remove'
  'add': ARGV[3] the most tags a queue may have, then key, value pairs (existing keys are
  overwritten; nothing changes when the result would have too many tags)
  'remove': the keys (keys the queue does not have are ignored)
  Returns {1, key, value, ...} (list), {1} (add, remove), {-5, tags it would have} (too many),
  or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local op = ARGV[2]
if op == 'list' then
  local out = {1}
  local all = redis.call('HGETALL', Q.meta)
  for i = 1, #all - 1, 2 do
    if string.sub(all[i], 1, 4) == 'tag:' then
      out[#out + 1] = string.sub(all[i], 5)
      out[#out + 1] = all[i + 1]
    end
  end
  return out
elseif op == 'add' then
  local count = 0
  local all = redis.call('HKEYS', Q.meta)
  for _, f in ipairs(all) do
    if string.sub(f, 1, 4) == 'tag:' then count = count + 1 end
  end
  local fields = {}
  for i = 4, #ARGV - 1, 2 do
    local f = 'tag:' .. ARGV[i]
    if redis.call('HEXISTS', Q.meta, f) == 0 then count = count + 1 end
    fields[#fields + 1] = f
    fields[#fields + 1] = ARGV[i + 1]
  end
  if count > tonumber(ARGV[3]) then return {-5, count} end
  if #fields > 0 then redis.call('HSET', Q.meta, unpack(fields)) end
  return {1}
else
  local fields = {}
  for i = 3, #ARGV do fields[#fields + 1] = 'tag:' .. ARGV[i] end
  if #fields > 0 then redis.call('HDEL', Q.meta, unpack(fields)) end
  return {1}
end

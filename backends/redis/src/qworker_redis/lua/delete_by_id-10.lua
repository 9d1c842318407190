--[[
  Delete messages by message id, whatever their state (an operator's delete of a peeked
  message, which has no receipt handle: the console's Delete). A message in flight is deleted
  too; its receiver's later delete then finds nothing and succeeds.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.inflight    id -> visibility deadline
  KEYS[3]  Q.delayed     id -> visible-at
  KEYS[4]  Q.expiry      id -> retention deadline
  KEYS[5]  Q.msgs        envelopes and states
  KEYS[6]  Q.errors      last recorded failures
  KEYS[7]  Q.notify      wake-ups for long polls
  KEYS[8]  Q.gmsgs       FIFO: messages by group
  KEYS[9]  Q.groups      FIFO: groups ready to serve
  KEYS[10] Q.gin         FIFO: in flight per group
  ARGV[1] incarnation   ARGV[2..] message ids
  Returns {1, id, id, ...} with the ids deleted (ids not in the queue are left out), or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local out = {1}
local touched = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', Q.msgs, id) == 1 then
    local g = remove_message(Q, M, id, parse_state(redis.call('HGET', Q.msgs, sk(id))), false)
    if g then touched[g] = true end
    out[#out + 1] = id
  end
end
refresh_groups(Q, touched, false)
return out

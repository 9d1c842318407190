--[[
  Store the last error with each message whose receipt handle is current (else ignore it).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.msgs        envelopes and states
  KEYS[3]  Q.errors      last recorded failures
  ARGV[1] incarnation   ARGV[2..] pairs: receipt handle, error text
  The text follows the message to the dead-letter queue and is shown by peek.
  Returns {1}, or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
for i = 2, #ARGV, 2 do
  local id, tok = split_handle(ARGV[i], M.inc .. ':')
  if id then
    local st = parse_state(redis.call('HGET', Q.msgs, sk(id)))
    if st and st.token == tok then redis.call('HSET', Q.errors, id, ARGV[i + 1]) end
  end
end
return {1}

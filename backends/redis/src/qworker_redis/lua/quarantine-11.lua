--[[
  Set aside messages the client could not decode (T16), if still held by the given token.

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
  KEYS[11] Q.quarantine  messages set aside
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3..] triples: id, token, reason
  The raw envelope and state are kept in the quarantine HASH (fields ID and ID\0raw).
  Returns {1, moved}, or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local moved = 0
local touched = {}
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  local raw = redis.call('HGET', Q.msgs, sk(id))
  local st = parse_state(raw)
  if st and st.token == ARGV[i + 1] then
    local g = quarantine(Q, M, id, st, raw, ARGV[i + 2], now, false)
    if g then touched[g] = true end
    moved = moved + 1
  end
end
refresh_groups(Q, touched, false)
return {1, moved}

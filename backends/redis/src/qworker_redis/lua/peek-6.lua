--[[
  Look at messages in enqueue order without receiving them (qworker peek). Changes nothing.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.inflight    id -> visibility deadline
  KEYS[3]  Q.delayed     id -> visible-at
  KEYS[4]  Q.expiry      id -> retention deadline
  KEYS[5]  Q.msgs        envelopes and states
  KEYS[6]  Q.errors      last recorded failures
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3] max messages
  Returns {1, id, envelope, state, last_error, where, visible_at_ms, ...} with where =
  'i' in flight, 'd' delayed, 'v' visible (visible_at_ms 0 when unknown), or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local ids = redis.call('ZRANGEBYSCORE', Q.expiry, '(' .. fmt_int(now - M.shift), '+inf', 'LIMIT', 0,
  tonumber(ARGV[3]))
local out = {1}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', Q.msgs, sk(id))
  local st = parse_state(raw)
  local where, at = 'v', 0
  local score = redis.call('ZSCORE', Q.inflight, id)
  if score then
    at = tonumber(score)
    if at > now then where = 'i' end
  else
    local member = id
    if M.fifo and st then member = st.arrival .. ':' .. id end
    score = redis.call('ZSCORE', Q.delayed, member)
    if score then
      at = tonumber(score)
      if at > now then where = 'd' end
    end
  end
  local n = #out
  out[n + 1] = id
  out[n + 2] = redis.call('HGET', Q.msgs, id) or ''
  out[n + 3] = raw or ''
  out[n + 4] = redis.call('HGET', Q.errors, id) or ''
  out[n + 5] = where
  out[n + 6] = at
end
return out

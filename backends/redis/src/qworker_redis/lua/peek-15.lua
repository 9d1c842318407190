--[[
  Look at messages in enqueue order without receiving them (qworker peek). Changes nothing.

  KEYS[1..15]  the queue's keys
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3] max messages
  Returns {1, id, envelope, state, last_error, where, visible_at_ms, ...} with where =
  'i' in flight, 'd' delayed, 'v' visible (visible_at_ms 0 when unknown), or {-1}.
]]
--- @include base

local Q = qkeys(0)
local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local max = tonumber(ARGV[3])
-- older messages by retention deadline, then (standard queues) the retention log in send order
local ids = redis.call('ZRANGEBYSCORE', Q.expiry, '(' .. fmt_int(now), '+inf', 'LIMIT', 0, max)
local start = 0
while not M.fifo and #ids < max and start < 100 * LIMIT do
  local entries = redis.call('LRANGE', Q.rlog, start, start + LIMIT - 1)
  if #entries == 0 then break end
  for _, e in ipairs(entries) do
    local id = string.sub(e, 14)
    if #ids < max and tonumber(string.sub(e, 1, 13)) + M.ret > now
        and redis.call('HEXISTS', Q.msgs, id) == 1 then
      ids[#ids + 1] = id
    end
  end
  start = start + LIMIT
end
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

--[[
  Put quarantined messages back as new arrivals (qworker queue quarantine restore, T16), and
  (same hash slot) take them out of the quarantine in the same step.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.expiry      id -> retention deadline
  KEYS[4]  Q.msgs        envelopes and states
  KEYS[5]  Q.notify      wake-ups for long polls
  KEYS[6]  Q.gmsgs       FIFO: messages by group
  KEYS[7]  Q.groups      FIFO: groups ready to serve
  KEYS[8]  Q.gin         FIFO: in flight per group
  KEYS[9]  S.meta        attributes, incarnation, counters
  KEYS[10] S.quarantine  messages set aside
  Q is the destination; S the queue whose quarantine holds the messages when ARGV[4] is '1',
  else Q's own keys again.
  ARGV[1] destination incarnation   ARGV[2] quarantine owner's incarnation   ARGV[3] clock offset
  ARGV[4] '1' = take them out of the quarantine here, '0' = the client does it afterwards
  (another slot: at-least-once, copy then remove)   ARGV[5] number of messages n
  then 4 per message: message id (kept), envelope prefix, group, dead-letter source queue name
  A message no longer in the quarantine (restored or dropped meanwhile), or whose id the
  destination already holds, is skipped. Visible at once, whatever the queue's DelaySeconds;
  FIFO: at the end of its group, no deduplication check.
  Returns {1, code per message}: 1 restored, 0 no longer in the quarantine, 2 the destination
  already holds a message of that id; {-1} destination gone; {-2} quarantine owner gone.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local here = ARGV[4] == '1'
if here then
  if not load_meta(S, ARGV[2]) then return {-2} end
end
local now = now_ms(tonumber(ARGV[3]))
local sent = fmt_int(now)
local sent_part = string.char(0xa0 + #sent) .. sent
local out = {1}
local touched = {}
local any = false
for i = 0, tonumber(ARGV[5]) - 1 do
  local b = 6 + i * 4
  local id, env, g, src = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local code = 1
  if here and redis.call('HEXISTS', S.quarantine, id) == 0 then
    code = 0
  elseif redis.call('HEXISTS', Q.msgs, id) == 1 or redis.call('HEXISTS', Q.msgs, sk(id)) == 1 then
    code = 2
  end
  if code == 1 then
    if here then unquarantine(S, id) end
    redis.call('ZADD', Q.expiry, now + M.ret, id)
    due_at(Q, M, now + M.ret + M.shift)
    if M.fifo then
      local arrival = string.format('%020d', redis.call('HINCRBY', Q.meta, 'seq', 1))
      redis.call('HSET', Q.msgs, sk(id), '|0|||' .. arrival .. '|' .. src .. '|' .. g)
      redis.call('HSET', Q.msgs, id, env .. sent_part .. '\180' .. arrival)
      redis.call('ZADD', Q.gmsgs, 0, gmember(g, arrival, id))
      touched[g] = true
    else
      redis.call('HSET', Q.msgs, id, env .. sent_part .. '\192')
      if src ~= '' then
        redis.call('HSET', Q.msgs, sk(id), '|0||||' .. src .. '|')
        redis.call('RPUSH', Q.ready, '*' .. id)
      else
        redis.call('RPUSH', Q.ready, id)
      end
      any = true
    end
  end
  out[#out + 1] = code
end
refresh_groups(Q, touched, any)
return out

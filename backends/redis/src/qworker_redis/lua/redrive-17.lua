--[[
  Enqueue dead letters as new messages in a destination queue, and (same hash slot) remove
  them from the dead-letter queue in the same step (SQS StartMessageMoveTask, ESM-DLQ-6).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.expiry      id -> retention deadline
  KEYS[4]  Q.msgs        envelopes and states
  KEYS[5]  Q.notify      wake-ups for long polls
  KEYS[6]  Q.gmsgs       FIFO: messages by group
  KEYS[7]  Q.groups      FIFO: groups ready to serve
  KEYS[8]  Q.gin         FIFO: in flight per group
  KEYS[9]  S.meta        attributes, incarnation, counters
  KEYS[10] S.inflight    id -> visibility deadline
  KEYS[11] S.delayed     id -> visible-at
  KEYS[12] S.expiry      id -> retention deadline
  KEYS[13] S.msgs        envelopes and states
  KEYS[14] S.errors      last recorded failures
  KEYS[15] S.gmsgs       FIFO: messages by group
  KEYS[16] S.groups      FIFO: groups ready to serve
  KEYS[17] S.gin         FIFO: in flight per group
  Q is the destination; S the dead-letter queue when ARGV[4] is '1', else Q's own keys again.
  ARGV[1] destination incarnation   ARGV[2] DLQ incarnation   ARGV[3] clock offset ms
  ARGV[4] '1' = remove from the DLQ here, '0' = the client deletes them afterwards (another
  slot: at-least-once copy-then-delete)   ARGV[5] number of messages n
  then 5 per message: new id, envelope prefix, group, DLQ message id, DLQ receipt token
  A message whose token is no longer current (its lease was lost) is skipped.
  Returns {1, new id or '', ...}; {-1} destination gone; {-2} DLQ gone.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local remove = ARGV[4] == '1'
local SM
if remove then
  SM = load_meta(S, ARGV[2])
  if not SM then return {-2} end
end
local now = now_ms(tonumber(ARGV[3]))
local sent = fmt_int(now)
local sent_part = string.char(0xa0 + #sent) .. sent
local out = {1}
local touched, src_touched = {}, {}
local any = false
for i = 0, tonumber(ARGV[5]) - 1 do
  local b = 6 + i * 5
  local id, env, g, old, tok = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local ok = true
  if remove then
    local st = parse_state(redis.call('HGET', S.msgs, sk(old)))
    if st and st.token == tok then
      local sg = remove_message(S, SM, old, st, false)
      if sg then src_touched[sg] = true end
    else
      ok = false
    end
  end
  if ok then
    redis.call('ZADD', Q.expiry, now + M.ret - M.shift, id)
    due_at(Q, M, now + M.ret)
    if M.fifo then
      local arrival = string.format('%020d', redis.call('HINCRBY', Q.meta, 'seq', 1))
      redis.call('HSET', Q.msgs, sk(id), '|0|||' .. arrival .. '||' .. g)
      redis.call('HSET', Q.msgs, id, env .. sent_part .. '\180' .. arrival)
      redis.call('ZADD', Q.gmsgs, 0, gmember(g, arrival, id))
      touched[g] = true
    else
      redis.call('HSET', Q.msgs, id, env .. sent_part .. '\192')
      redis.call('RPUSH', Q.ready, id)
      any = true
    end
    out[#out + 1] = id
  else
    out[#out + 1] = ''
  end
end
refresh_groups(Q, touched, any)
if remove then
  for g in pairs(src_touched) do refresh_group(S, g) end
end
return out

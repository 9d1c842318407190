--[[
  Change received messages' visibility (SQS ChangeMessageVisibilityBatch), fenced, atomically.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.inflight    id -> visibility deadline
  KEYS[4]  Q.msgs        envelopes and states
  KEYS[5]  Q.notify      wake-ups for long polls
  KEYS[6]  Q.gmsgs       FIFO: messages by group
  KEYS[7]  Q.groups      FIFO: groups ready to serve
  KEYS[8]  Q.gin         FIFO: in flight per group
  ARGV[1] queue incarnation   ARGV[2] clock offset ms
  ARGV[3..] pairs: receipt handle, new timeout in ms from now (-1 = rejected by the client)
  The new deadline counts from now (SQS-V-2); 0 makes the message visible at once (SQS-V-3);
  the total may not exceed 12 hours after the receive.
  Returns {1, index, code, ...} for failed entries: 1 ReceiptHandleIsInvalid,
  3 MessageNotInflight, 4 invalid timeout, 5 beyond 12 hours; or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local out = {1}
local touched = {}
local wake = false
local k = 0
for i = 3, #ARGV, 2 do
  k = k + 1
  local ms = tonumber(ARGV[i + 1])
  local id, tok = split_handle(ARGV[i], M.inc .. ':')
  local code = 0
  if not id then
    code = 1
  elseif ms < 0 then
    code = 4
  else
    local st = parse_state(redis.call('HGET', Q.msgs, sk(id)))
    local score = redis.call('ZSCORE', Q.inflight, id)
    if not st or st.token ~= tok or not score or tonumber(score) <= now then
      code = 3
    elseif now + ms - tonumber(st.recv) > MAX_VIS_MS then
      code = 5
    elseif ms == 0 then
      redis.call('ZREM', Q.inflight, id)
      if M.fifo then
        if redis.call('HINCRBY', Q.gin, st.group, -1) <= 0 then redis.call('HDEL', Q.gin, st.group) end
        touched[st.group] = true
      else
        redis.call('RPUSH', Q.ready, '*' .. id)
        wake = true
      end
    else
      redis.call('ZADD', Q.inflight, now + ms, id)
      due_at(Q, M, now + ms)
    end
  end
  if code > 0 then
    out[#out + 1] = k
    out[#out + 1] = code
  end
end
refresh_groups(Q, touched, wake)
return out

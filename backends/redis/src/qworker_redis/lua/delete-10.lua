--[[
  Delete received messages (SQS DeleteMessageBatch), fenced by receipt token, atomically.

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
  ARGV[1] queue incarnation   ARGV[2] clock offset ms   ARGV[3] '1' when an id appears twice
  ARGV[4..] pairs: message id, receipt token, split by the client from receipt handles
  INCARNATION:MESSAGE-ID:TOKEN of this incarnation (it answers ReceiptHandleIsInvalid for the
  others itself). A handle deletes its message while its token is the message's current one
  (ESM-F-6, SQS-RH-1), even after the visibility timeout; a handle whose message is gone succeeds.
  Returns {1, index, code, index, code, ...} for the failed pairs (1-based; code 2 =
  ReceiptHandleIsStale), or {-1}.
]]
--- @include core

-- the two attributes a delete needs (load_meta's incarnation check, without the rest)
local meta = redis.call('HMGET', Q.meta, 'inc', 'fifo')
if not meta[1] or meta[1] ~= ARGV[1] then return {E_NO_QUEUE} end
local M = {inc = meta[1], fifo = meta[2] == '1'}  -- all remove_message reads
local out = {1}
local n = math.floor((#ARGV - 2) / 2)  -- pairs: ARGV[2k + 2] the id, ARGV[2k + 3] the token
if n < 1 then return out end

if not M.fifo and ARGV[3] ~= '1' then
  -- standard queues, no id twice: the hot path. A handle's message was received, so it has a
  -- state whose first 16 characters are its current token
  local fields = {}
  for k = 1, n do fields[k] = '~' .. ARGV[2 * k + 2] end
  local sts = n <= CHUNK and redis.call('HMGET', Q.msgs, unpack(fields)) or multi_get('HMGET', Q.msgs, fields)
  local del, hdel = {}, {}  -- the ids to delete; their envelope and state fields
  local nd = 0
  for k = 1, n do
    local raw = sts[k]
    if raw then
      if string.sub(raw, 1, 16) == ARGV[2 * k + 3] then
        local id = ARGV[2 * k + 2]
        nd = nd + 1
        del[nd] = id
        hdel[2 * nd - 1] = id
        hdel[2 * nd] = fields[k]
      else
        out[#out + 1] = k
        out[#out + 1] = 2
      end
    end
  end
  if nd > 0 then
    local removed = 0
    if 2 * nd <= CHUNK then
      removed = redis.call('ZREM', Q.inflight, unpack(del))
      redis.call('HDEL', Q.msgs, unpack(hdel))
      redis.call('ZREM', Q.expiry, unpack(del))
    else
      local i = 1
      while i <= nd do
        local j = math.min(i + CHUNK - 1, nd)
        removed = removed + redis.call('ZREM', Q.inflight, unpack(del, i, j))
        i = j + 1
      end
      bulk('HDEL', Q.msgs, hdel)
      bulk('ZREM', Q.expiry, del)
    end
    if redis.call('EXISTS', Q.errors) == 1 then bulk('HDEL', Q.errors, del) end
    -- a message no longer in flight had been moved back to the ready list: its id stays there as
    -- a ghost the next receive drops (counted, so counts stay right; no list scan)
    if removed < nd then redis.call('HINCRBY', Q.meta, 'ghosts', nd - removed) end
  end
  return out
end

--- @include base

-- one at a time: FIFO groups to unlock, or the same message named twice
local touched = {}
for k = 1, n do
  local id = ARGV[2 * k + 2]
  local raw = redis.call('HGET', Q.msgs, sk(id))
  if raw then
    local st = parse_state(raw)
    if st and st.token ~= ARGV[2 * k + 3] then
      out[#out + 1] = k
      out[#out + 1] = 2
    else
      local g = remove_message(Q, M, id, st, false)
      if g then touched[g] = true end
    end
  end
end
refresh_groups(Q, touched, false)
return out

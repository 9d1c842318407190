--[[
  Enqueue a batch of messages (SQS SendMessageBatch), atomically.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.delayed     id -> visible-at
  KEYS[4]  Q.expiry      id -> retention deadline
  KEYS[5]  Q.msgs        envelopes and states
  KEYS[6]  Q.notify      wake-ups for long polls
  KEYS[7]  Q.gmsgs       FIFO: messages by group
  KEYS[8]  Q.groups      FIFO: groups ready to serve
  KEYS[9]  Q.gin         FIFO: in flight per group
  KEYS[10] Q.dedup       FIFO: deduplication ids
  KEYS[11] Q.dedupx      FIFO: their windows
  ARGV[1] queue incarnation   ARGV[2] clock offset ms   ARGV[3] spec revision the client
  validated the entries against   ARGV[4] number of messages n
  then 5 per message: id, envelope prefix, delay ms ('' = queue DelaySeconds), group, dedup id
  Standard messages get no state entry until their first receive. The envelope prefix is a msgpack array header for 10 items plus the first 8; this script
  appends SentTimestamp (Redis clock) and, on FIFO queues, the SequenceNumber.
  FIFO (SQS-F-2/3/5): entries are enqueued in order, each gets the next per-queue sequence
  number; an entry whose dedup id was seen in the last 5 minutes is accepted, not enqueued, and
  reported with the original message id and sequence number.
  Returns {1, id, sequence, id, sequence, ...} ('' sequence on standard queues), {-1}, or
  {-3, revision, spec} (nothing sent) when the attributes changed since the client validated.
]]
--- @include core

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local stale = stale_spec(Q, M, ARGV[3])
if stale then return stale end
local now = now_ms(tonumber(ARGV[2]))
local n = tonumber(ARGV[4])
local sent = fmt_int(now)
local sent_part = string.char(0xa0 + #sent) .. sent
local out = {1}

if not M.fifo then
  local margs, eargs, dargs, ready = {}, {}, {}, {}
  local nd, nr = 0, 0
  local expires = now + M.ret - M.shift
  local soonest = now + M.ret  -- when the first entry this send adds falls due
  local suffix = sent_part .. '\192'
  for i = 0, n - 1 do
    local b = 5 + i * 5
    local id = ARGV[b]
    local delay = ARGV[b + 2]
    delay = (delay == '' and M.delay) or tonumber(delay)
    margs[2 * i + 1] = id
    margs[2 * i + 2] = ARGV[b + 1] .. suffix
    eargs[2 * i + 1] = expires
    eargs[2 * i + 2] = id
    if delay > 0 then
      if now + delay < soonest then soonest = now + delay end
      dargs[nd + 1] = now + delay
      dargs[nd + 2] = id
      nd = nd + 2
    else
      nr = nr + 1
      ready[nr] = id
    end
    out[2 * i + 2] = id
    out[2 * i + 3] = ''
  end
  bulk('HSET', Q.msgs, margs)
  bulk('ZADD', Q.expiry, eargs)
  due_at(Q, M, soonest)
  if #dargs > 0 then bulk('ZADD', Q.delayed, dargs) end
  if #ready > 0 then
    bulk('RPUSH', Q.ready, ready)
    signal(Q)
  end
  return out
end

-- FIFO needs base's helpers; a standard send returned above before they were made (Redis runs
-- a script's whole chunk per call: each helper is a closure made per call)
--- @include base

-- FIFO: forget dedup ids whose window ended (bounded), then enqueue in order
local old = redis.call('ZRANGEBYSCORE', Q.dedupx, '-inf', now, 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('HDEL', Q.dedup, unpack(old))
  redis.call('ZREM', Q.dedupx, unpack(old))
end
local touched = {}
for i = 0, n - 1 do
  local b = 5 + i * 5
  local id, g, dd = ARGV[b], ARGV[b + 3], ARGV[b + 4]
  local field = (M.scope == 'messageGroup' and g or '') .. '\0' .. dd
  local prev = redis.call('HGET', Q.dedup, field)
  local window = prev and tonumber(redis.call('ZSCORE', Q.dedupx, field) or '0')
  if prev and window > now then
    local pid, pseq = string.match(prev, '^([^|]*)|(.*)$')
    out[#out + 1] = pid
    out[#out + 1] = pseq
  else
    local arrival = string.format('%020d', redis.call('HINCRBY', Q.meta, 'seq', 1))
    redis.call('HSET', Q.msgs, sk(id), '|0|||' .. arrival .. '||' .. g)
    redis.call('HSET', Q.msgs, id, ARGV[b + 1] .. sent_part .. '\180' .. arrival)
    redis.call('ZADD', Q.expiry, now + M.ret - M.shift, id)
    due_at(Q, M, now + M.ret)
    redis.call('HSET', Q.dedup, field, id .. '|' .. arrival)
    redis.call('ZADD', Q.dedupx, now + DEDUP_MS, field)
    if M.delay > 0 then
      redis.call('ZADD', Q.delayed, now + M.delay, arrival .. ':' .. id)
      due_at(Q, M, now + M.delay)
    else
      redis.call('ZADD', Q.gmsgs, 0, gmember(g, arrival, id))
      touched[g] = true
    end
    out[#out + 1] = id
    out[#out + 1] = arrival
  end
end
-- the whole dedup table goes away by itself 6 minutes after the last send
redis.call('PEXPIRE', Q.dedup, DEDUP_MS + 60000)
redis.call('PEXPIRE', Q.dedupx, DEDUP_MS + 60000)
refresh_groups(Q, touched, false)
return out

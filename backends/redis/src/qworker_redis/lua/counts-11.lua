--[[
  Approximate counts (SQS ApproximateNumberOfMessages, ...NotVisible, ...Delayed).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.inflight    id -> visibility deadline
  KEYS[4]  Q.delayed     id -> visible-at
  KEYS[5]  Q.expiry      id -> retention deadline
  KEYS[6]  Q.msgs        envelopes and states
  KEYS[7]  Q.errors      last recorded failures
  KEYS[8]  Q.gmsgs       FIFO: messages by group
  KEYS[9]  Q.groups      FIFO: groups ready to serve
  KEYS[10] Q.gin         FIFO: in flight per group
  KEYS[11] Q.quarantine  messages set aside
  ARGV[1] incarnation   ARGV[2] clock offset ms   ARGV[3] the client's spec revision
  Expires messages past retention first (bounded). Due delayed and expired in-flight messages
  count as visible even before a receive moves them.
  Returns {1, visible, in_flight, delayed, created_s, modified_s, quarantined, revision, spec}
  (quarantined: messages, not hash fields, see quarantine_count in base.lua; spec '' when the
  client's revision is current), or {-1}.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
expire(Q, M, now)
local after = '(' .. fmt_int(now)
local inflight_live = redis.call('ZCOUNT', Q.inflight, after, '+inf')
local inflight_due = redis.call('ZCARD', Q.inflight) - inflight_live
local delayed_live = redis.call('ZCOUNT', Q.delayed, after, '+inf')
local delayed_due = redis.call('ZCARD', Q.delayed) - delayed_live
local visible
if M.fifo then
  visible = redis.call('ZCARD', Q.gmsgs) - inflight_live + delayed_due
else
  local ghosts = tonumber(redis.call('HGET', Q.meta, 'ghosts') or '0')
  visible = math.max(0, redis.call('LLEN', Q.ready) - ghosts) + inflight_due + delayed_due
end
local m = redis.call('HMGET', Q.meta, 'created', 'modified')
local spec = ''
if ARGV[3] ~= M.rev then spec = redis.call('HGET', Q.meta, 'spec') or '' end
return {1, visible, inflight_live, delayed_live, tonumber(m[1]), tonumber(m[2]),
  quarantine_count(Q), M.rev, spec}

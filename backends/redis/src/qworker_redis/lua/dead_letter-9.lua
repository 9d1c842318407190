--[[
  Put poison messages into a dead-letter queue in another hash slot (Redis Cluster): the second
  step of a dead-letter move whose first step leased them in the source queue (receive-21.lua,
  mode 'r'); the client deletes them from the source afterwards. At-least-once: a message whose
  id the DLQ already holds is not added again (a move retried after a lost reply).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.expiry      id -> retention deadline
  KEYS[4]  Q.msgs        envelopes and states
  KEYS[5]  Q.errors      last recorded failures
  KEYS[6]  Q.notify      wake-ups for long polls
  KEYS[7]  Q.gmsgs       FIFO: messages by group
  KEYS[8]  Q.groups      FIFO: groups ready to serve
  KEYS[9]  Q.gin         FIFO: in flight per group
  Q is the dead-letter queue (the queue the call names).
  ARGV[1] DLQ incarnation   ARGV[2] clock offset ms   ARGV[3] source queue name
  ARGV[4] number of messages n, then 6 per message: id, envelope, receive count, first receive
  ms, last error ('' none), group ('' standard)
  then n enqueue times (SentTimestamp ms): a standard DLQ keeps the original enqueue time for
  retention, a FIFO DLQ restarts it (ESM-DLQ-4), as the atomic move in receive-21.lua does.
  Returns {1}, or {-1} when the DLQ is gone.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local src = ARGV[3]
local n = tonumber(ARGV[4])
local touched = {}
local any = false
for i = 0, n - 1 do
  local b = 5 + i * 6
  local id, env, count, first, err, g = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local sent = tonumber(ARGV[5 + n * 6 + i])
  if redis.call('HEXISTS', Q.msgs, id) == 0 then
    local arrival = ''
    if M.fifo then arrival = string.format('%020d', redis.call('HINCRBY', Q.meta, 'seq', 1)) end
    local st = {token = '', count = tonumber(count), first = first, recv = '', arrival = arrival,
                src = src, group = g}
    redis.call('HSET', Q.msgs, sk(id), format_state(st), id, env)
    if err ~= '' then redis.call('HSET', Q.errors, id, err) end
    local dexp = M.fifo and (now + M.ret) or (sent + M.ret)
    redis.call('ZADD', Q.expiry, dexp - M.shift, id)
    due_at(Q, M, dexp)
    if M.fifo then
      redis.call('ZADD', Q.gmsgs, 0, gmember(g, arrival, id))
      touched[g] = true
    else
      redis.call('RPUSH', Q.ready, '*' .. id)
      any = true
    end
  end
end
refresh_groups(Q, touched, any)
return {1}

--[[
  Put poison messages into a dead-letter queue in another hash slot (Redis Cluster): the second
  step of a dead-letter move whose first step leased them in the source queue (receive-28.lua,
  mode 'r'); the client deletes them from the source afterwards. At-least-once: a message whose
  id the DLQ already holds is not added again (a move retried after a lost reply).

  KEYS[1..14]  the dead-letter queue's keys
  ARGV[1] DLQ incarnation   ARGV[2] clock offset ms   ARGV[3] source queue name
  ARGV[4] number of messages n, then 6 per message: id, envelope, receive count, first receive
  ms, last error ('' none), group ('' standard)
  then n enqueue times (SentTimestamp ms): a standard DLQ keeps the original enqueue time for
  retention, a FIFO DLQ restarts it (ESM-DLQ-4), as the atomic move in receive-28.lua does.
  Returns {1}, or {-1} when the DLQ is gone.
]]
--- @include base

local D = qkeys(0)
local DM = load_meta(D, ARGV[1])
if not DM then return {E_NO_QUEUE} end
local now = now_ms(tonumber(ARGV[2]))
local src = ARGV[3]
local n = tonumber(ARGV[4])
local touched = {}
local any = false
for i = 0, n - 1 do
  local b = 5 + i * 6
  local id, env, count, first, err, g = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local sent = tonumber(ARGV[5 + n * 6 + i])
  if redis.call('HEXISTS', D.msgs, id) == 0 then
    local arrival = ''
    if DM.fifo then arrival = string.format('%020d', redis.call('HINCRBY', D.meta, 'seq', 1)) end
    local st = {token = '', count = tonumber(count), first = first, recv = '', arrival = arrival,
                src = src, group = g}
    redis.call('HSET', D.msgs, sk(id), format_state(st), id, env)
    if err ~= '' then redis.call('HSET', D.errors, id, err) end
    local dexp = DM.fifo and (now + DM.ret) or (sent + DM.ret)
    redis.call('ZADD', D.expiry, dexp - DM.shift, id)
    if DM.fifo then
      redis.call('ZADD', D.gmsgs, 0, gmember(g, arrival, id))
      touched[g] = true
    else
      redis.call('RPUSH', D.ready, '*' .. id)
      any = true
    end
  end
end
for g in pairs(touched) do
  if refresh_group(D, g) then any = true end
end
if any then signal(D) end
return {1}

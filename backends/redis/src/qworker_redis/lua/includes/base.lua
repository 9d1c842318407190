--[[
  Shared helpers, pasted by scripts.py at each "--- @include base" line; "--- @include core"
  (constants and the few helpers a hot path needs) comes first.

  A script names its keys in its header (KEYS[i] Q.meta, ...); scripts.py turns that list into
  the tables Q, D, S (queues) it passes to these helpers, so a helper reaches a queue's key as
  Q.ready whichever KEYS slot it came in. Each helper's comment says which keys it touches: a
  script that calls it lists them.
  Message state (HASH msgs, field '~' .. message id, next to the envelope under the bare id: one
  big hash table instead of a second, often small and listpack-encoded, hash) is one string:
    token|count|first|received|arrival|src|group
  token = fencing token of the current receipt handle (16 hex digits, first so a delete checks
  it with one string.sub); count = receives so far; first = first receive (ms); received = last
  receive (ms); arrival = 20-digit per-queue sequence (FIFO only); src = queue the message was
  dead-lettered from; group = FIFO MessageGroupId (last: a group id may contain '|').
  A standard-queue message that was never received has no state entry at all (cheaper sends),
  and the ready list marks the ids of those that have one ('*' .. id), so a first receive
  looks up nothing but the envelope.
  Receipt handles are INCARNATION:ID:TOKEN, ids are 36-character UUIDs.
  Time is Redis's own clock (TIME) plus ARGV offset (always 0 outside tests).
  Attributes change (SetQueueAttributes, configure-2.lua): the meta HASH is the truth. 'rev'
  counts the changes (absent = 0) and 'spec' holds the client-side spec of revision rev;
  scripts whose caller relies on its cached spec compare the revision it passes and answer
  {E_STALE_SPEC, rev, spec} when it is behind. A message's retention ends at its expiry score
  plus 'xshift' (absent = 0), which a retention change moves for every queued message at once.
  Receive sweeps (retention, due delayed messages, expired visibility timeouts) only once the
  clock reaches the meta field 'wake' (absent = 0: sweep now): a lower bound on the time any
  entry of the delayed, in-flight or expiry sets falls due, so a receive with nothing due pays
  for no sweep. Every script that adds such an entry keeps the bound (due_at); the sweep sets it
  again to the earliest entry, at most WAKE_MAX_MS ahead.
]]

-- the state fields of a list of ids
local function skeys(ids)
  local out = {}
  for i = 1, #ids do out[i] = '~' .. ids[i] end
  return out
end

-- ready-list elements of ids whose messages have a state entry ('*' .. id): a receive reads
-- the state only for these, so a message's first receive costs no hash lookup for it
local function stated(ids)
  local out = {}
  for i = 1, #ids do out[i] = '*' .. ids[i] end
  return out
end

-- the envelope fields (the ids) then the state fields of a list of ids: one HMGET or HDEL
-- reaches both (envelope of ids[i] at i, its state at #ids + i)
local function with_skeys(ids)
  local n = #ids
  local out = {}
  for i = 1, n do
    out[i] = ids[i]
    out[n + i] = '~' .. ids[i]
  end
  return out
end

-- After a sweep: 'wake' = when the earliest remaining entry falls due, at most WAKE_MAX_MS
-- ahead of now. Keys: meta, delayed, inflight, expiry.
local function reset_wake(Q, M, now)
  local t = now + WAKE_MAX_MS
  local d = redis.call('ZRANGE', Q.delayed, 0, 0, 'WITHSCORES')
  if d[2] and tonumber(d[2]) < t then t = tonumber(d[2]) end
  local f = redis.call('ZRANGE', Q.inflight, 0, 0, 'WITHSCORES')
  if f[2] and tonumber(f[2]) < t then t = tonumber(f[2]) end
  local e = redis.call('ZRANGE', Q.expiry, 0, 0, 'WITHSCORES')
  if e[2] and tonumber(e[2]) + M.shift < t then t = tonumber(e[2]) + M.shift end
  M.wake = t
  redis.call('HSET', Q.meta, 'wake', fmt_int(t))
end

local function parse_state(s)
  if not s then return nil end
  local t, c, f, r, a, src, g = string.match(s, '^(%x*)|(%d+)|(%d*)|(%d*)|(%d*)|([^|]*)|(.*)$')
  if not t then return nil end
  return {token = t, count = tonumber(c), first = f, recv = r, arrival = a, src = src, group = g}
end

local function format_state(st)
  return st.token .. '|' .. st.count .. '|' .. st.first .. '|' .. st.recv .. '|' .. st.arrival
    .. '|' .. st.src .. '|' .. st.group
end

-- Split a receipt handle of this queue incarnation; nil, nil when it is not one.
local function split_handle(h, pfx)
  local n = #pfx
  if #h ~= n + 53 or string.sub(h, 1, n) ~= pfx or string.sub(h, n + 37, n + 37) ~= ':' then
    return nil, nil
  end
  return string.sub(h, n + 1, n + 36), string.sub(h, n + 38)
end

local function gmember(g, arrival, id) return g .. '\0' .. arrival .. '\0' .. id end

-- FIFO: put group g in the ready set iff it has messages and none of them is in flight.
-- Returns true when the group is ready. Keys: gin, groups, gmsgs.
local function refresh_group(Q, g)
  local n = tonumber(redis.call('HGET', Q.gin, g) or '0')
  if n > 0 then
    redis.call('ZREM', Q.groups, g)
    return false
  end
  local head = redis.call('ZRANGEBYLEX', Q.gmsgs, '[' .. g .. '\0', '(' .. g .. '\1', 'LIMIT', 0, 1)
  if #head == 0 then
    redis.call('ZREM', Q.groups, g)
    return false
  end
  redis.call('ZADD', Q.groups, tonumber(string.match(head[1], '%z(%d+)%z')), g)
  return true
end

-- FIFO: refresh every group in `touched` (a set); wake one receiver when a group became ready
-- or `wake` says the caller made a message visible. Keys: gin, groups, gmsgs, notify.
local function refresh_groups(Q, touched, wake)
  for g in pairs(touched) do
    if refresh_group(Q, g) then wake = true end
  end
  if wake then signal(Q) end
end

-- Remove every trace of message id (parsed state st, nil when unreadable). `popped`: a
-- standard message already taken off the ready list (else one found nowhere is a ghost there).
-- Returns the FIFO group to refresh, if any.
-- Keys: meta, inflight, delayed, expiry, msgs, errors, gmsgs, gin.
local function remove_message(Q, M, id, st, popped)
  local inflight = redis.call('ZREM', Q.inflight, id) == 1
  local g = nil
  if M.fifo then
    if st then
      g = st.group
      if st.arrival ~= '' then
        redis.call('ZREM', Q.gmsgs, gmember(g, st.arrival, id))
        redis.call('ZREM', Q.delayed, st.arrival .. ':' .. id)
      end
      if inflight and redis.call('HINCRBY', Q.gin, g, -1) <= 0 then redis.call('HDEL', Q.gin, g) end
    end
  elseif not inflight and redis.call('ZREM', Q.delayed, id) == 0 and not popped then
    redis.call('HINCRBY', Q.meta, 'ghosts', 1)
  end
  redis.call('HDEL', Q.msgs, id, sk(id))
  redis.call('HDEL', Q.errors, id)
  redis.call('ZREM', Q.expiry, id)
  return g
end

-- How many messages the quarantine holds (meta field 'qn'). The hash has one or two fields per
-- message (the raw envelope's is ID\0raw), so HLEN cannot tell; a queue quarantined into by an
-- older qworker has no 'qn' yet: it is counted once, here. Keys: meta, quarantine.
local function quarantine_count(Q)
  local n = redis.call('HGET', Q.meta, 'qn')
  if n then return tonumber(n) end
  local c = 0
  for _, f in ipairs(redis.call('HKEYS', Q.quarantine)) do
    if not string.find(f, '\0', 1, true) then c = c + 1 end
  end
  redis.call('HSET', Q.meta, 'qn', c)
  return c
end

-- Set a message aside with a reason (T16): never delivered, never blocks the queue.
-- Keys: quarantine and remove_message's.
local function quarantine(Q, M, id, st, raw_state, reason, now, popped)
  local env = redis.call('HGET', Q.msgs, id)
  quarantine_count(Q)
  if redis.call('HSET', Q.quarantine, id, reason .. '|' .. fmt_int(now) .. '|' .. (raw_state or '')) == 1 then
    redis.call('HINCRBY', Q.meta, 'qn', 1)
  end
  if env then redis.call('HSET', Q.quarantine, id .. '\0raw', env) end
  return remove_message(Q, M, id, st, popped)
end

-- Take message id out of the quarantine (restored or dropped); true when it was there.
-- Keys: meta, quarantine.
local function unquarantine(Q, id)
  quarantine_count(Q)
  if redis.call('HDEL', Q.quarantine, id, id .. '\0raw') == 0 then return false end
  redis.call('HINCRBY', Q.meta, 'qn', -1)
  return true
end

-- SQS-L-3: delete messages past the retention period, at most LIMIT per call.
-- Keys: remove_message's and refresh_group's.
local function expire(Q, M, now)
  local old = redis.call('ZRANGEBYSCORE', Q.expiry, '-inf', now - M.shift, 'LIMIT', 0, LIMIT)
  if #old == 0 then return end
  local sts = multi_get('HMGET', Q.msgs, skeys(old))
  local touched = {}
  for i, id in ipairs(old) do
    local g = remove_message(Q, M, id, parse_state(sts[i]), false)
    if g then touched[g] = true end
  end
  for g in pairs(touched) do refresh_group(Q, g) end
end

--[[
  Receive up to N visible messages and put them in flight (SQS ReceiveMessage), atomically.

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.ready       visible ids (standard)
  KEYS[3]  Q.inflight    id -> visibility deadline
  KEYS[4]  Q.delayed     id -> visible-at
  KEYS[5]  Q.expiry      id -> retention deadline
  KEYS[6]  Q.msgs        envelopes and states
  KEYS[7]  Q.errors      last recorded failures
  KEYS[8]  Q.notify      wake-ups for long polls
  KEYS[9]  Q.gmsgs       FIFO: messages by group
  KEYS[10] Q.groups      FIFO: groups ready to serve
  KEYS[11] Q.gin         FIFO: in flight per group
  KEYS[12] Q.quarantine  messages set aside
  KEYS[13] D.meta        attributes, incarnation, counters
  KEYS[14] D.ready       visible ids (standard)
  KEYS[15] D.expiry      id -> retention deadline
  KEYS[16] D.msgs        envelopes and states
  KEYS[17] D.errors      last recorded failures
  KEYS[18] D.notify      wake-ups for long polls
  KEYS[19] D.gmsgs       FIFO: messages by group
  KEYS[20] D.groups      FIFO: groups ready to serve
  KEYS[21] D.gin         FIFO: in flight per group
  Q is the queue; D its dead-letter queue when ARGV[8] is 'a', else Q's own keys again.
  ARGV[1] queue incarnation      ARGV[2] clock offset ms (0 outside tests)
  ARGV[3] max messages           ARGV[4] visibility timeout ms, '' = the queue's
  ARGV[5] receipt token (hex)    ARGV[6] mode: 'r' receive, 't' take for redrive (no count,
                                 no dead-letter move)
  ARGV[7] the client's spec revision ('' = do not check): the DLQ keys and ARGV[8] follow
          from its RedrivePolicy, so a client behind gets {-3, revision, spec} and nothing else
  ARGV[8] dead-letter mode: 'a' (or none) the DLQ's keys are the D keys (same hash slot, or a
          single node): the move is atomic; 'r' the DLQ is in another hash slot (Redis Cluster):
          a poison message is leased to the client (in flight for LEASE_MS, not counted) and
          returned with its receive count negated, and the client copies it into the DLQ then
          deletes it here (dead_letter-9.lua; at-least-once); 'x' the DLQ is gone: deliver.
  Steps: expire (retention), promote due delayed and expired in-flight ids (these sweeps only
  once the clock reaches the queue's 'wake', base.lua), then pop. A message
  already received maxReceiveCount times goes to the DLQ instead (ESM-DLQ-2); a message whose
  state or envelope is unreadable or too large goes to quarantine (T16).
  Returns {1, next_wake_ms, id, envelope, count, first_ms, src, ...}; next_wake_ms (only when
  nothing was received) is how long until a delayed or in-flight message may become visible,
  -1 if never. A leased poison message (mode 'r') is id, envelope, -count, first_ms, its last
  error. {-1} when the queue does not exist.
]]
--- @include core

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local stale = stale_spec(Q, M, ARGV[7])
if stale then return stale end
local now = now_ms(tonumber(ARGV[2]))
local max = tonumber(ARGV[3])
local vt = ARGV[4] ~= '' and tonumber(ARGV[4]) or M.vt
local deadline = fmt_int(now + vt)  -- a string: Redis parses it faster than a Lua number
local token = ARGV[5]
local counting = ARGV[6] == 'r'
local dlq_mode = ARGV[8] or 'a'
local LEASE_MS = 30000          -- how long the client has to move a leased poison message
local sweep = now >= M.wake  -- something may be due: retention, delays, visibility timeouts

local out = {1, -1}
local sargs, zargs = {}, {}
local got, no, ns = 0, 2, 0  -- messages taken; lengths of out and sargs (zargs has ns too)

local nows = fmt_int(now)
-- a standard message's first receive: one precomputed state string, no parsing
local fresh_count = counting and 1 or 0
local fresh_first = counting and nows or ''
local fresh_state = token .. '|' .. fresh_count .. '|' .. fresh_first .. '|' .. nows .. '|||'

-- The common case, before base's helpers are made (each is a closure made per call): a
-- standard queue with nothing due. First receives are taken here; the ids that need take()
-- (a state to read, a missing or oversize envelope) are set apart in rid/rraw/renv (1..nr).
-- Done here when all of it was first receives, else the general path below goes on.
local rid, rraw, renv = {}, {}, {}
local nr = 0
local dry = false  -- the ready list ran out
if not M.fifo and not sweep then
  local ghosts = 0
  while got + nr < max do
    local ids, vals, at = pop_ready(Q, math.min(max - got - nr, CHUNK))
    if not ids then
      dry = true
      break
    end
    for i = 1, #ids do
      local env, raw = vals[i], at[i] and vals[at[i]]
      if not raw and env and #env <= MAX_ENVELOPE then
        local id = ids[i]
        out[no + 1] = id
        out[no + 2] = env
        out[no + 3] = fresh_count
        out[no + 4] = fresh_first
        out[no + 5] = ''
        no = no + 5
        sargs[ns + 1] = '~' .. id
        sargs[ns + 2] = fresh_state
        zargs[ns + 1] = deadline
        zargs[ns + 2] = id
        ns = ns + 2
        got = got + 1
      elseif raw or env then
        nr = nr + 1
        rid[nr], rraw[nr], renv[nr] = ids[i], raw, env
      else
        ghosts = ghosts + 1
      end
    end
  end
  if ghosts > 0 then redis.call('HINCRBY', Q.meta, 'ghosts', -ghosts) end
  if nr == 0 and got > 0 then
    bulk('HSET', Q.msgs, sargs)
    bulk('ZADD', Q.inflight, zargs)
    due_at(Q, M, now + vt)  -- the visibility deadlines set just now
    -- more left for other waiting receivers: pass the wake-up on (signal(Q), but no look at
    -- the ready list while a wake-up is pending anyway)
    if got == max and redis.call('LLEN', Q.notify) == 0 and redis.call('LLEN', Q.ready) > 0 then
      redis.call('RPUSH', Q.notify, '1')
      redis.call('PEXPIRE', Q.notify, 60000)
    end
    return out
  end
end

--- @include base

local DM = nil  -- the dead-letter queue's attributes, read only when the move is atomic
local redrives = counting and M.maxrc > 0 and M.dlq ~= ''
if redrives and (dlq_mode == 'a' or dlq_mode == '') then
  DM = load_meta(D, nil)  -- nil when the DLQ is gone: then the message is delivered
  if DM and D.meta == Q.meta then DM = M end  -- its own DLQ: one table, one 'wake'
end
local remote = redrives and dlq_mode == 'r'
local LEASED = 'leased'

-- ESM-DLQ-2/4/5: move to the dead-letter queue, keeping id, envelope, count, first receive.
local function dead_letter(id, st)
  local env = redis.call('HGET', Q.msgs, id)
  local err = redis.call('HGET', Q.errors, id)
  local exp = tonumber(redis.call('ZSCORE', Q.expiry, id) or (now + M.ret - M.shift)) + M.shift
  remove_message(Q, M, id, st, true)
  local arrival = ''
  if DM.fifo then arrival = string.format('%020d', redis.call('HINCRBY', D.meta, 'seq', 1)) end
  local nst = {token = '', count = st.count, first = st.first, recv = '', arrival = arrival,
               src = M.name, group = st.group}
  redis.call('HSET', D.msgs, sk(id), format_state(nst))
  if env then redis.call('HSET', D.msgs, id, env) end
  if err then redis.call('HSET', D.errors, id, err) end
  -- standard DLQs keep the original enqueue time, FIFO DLQs reset it (ESM-DLQ-4)
  local dexp = DM.fifo and (now + DM.ret) or (exp - M.ret + DM.ret)
  redis.call('ZADD', D.expiry, dexp - DM.shift, id)
  due_at(D, DM, dexp)
  if DM.fifo then
    redis.call('ZADD', D.gmsgs, 0, gmember(st.group, arrival, id))
    refresh_group(D, st.group)
  else
    redis.call('RPUSH', D.ready, '*' .. id)
  end
  signal(D)
end

if sweep then expire(Q, M, now) end

-- decide one candidate; returns true when it is delivered, LEASED when it is leased to the
-- client for a move to a dead-letter queue in another hash slot
local function take(id, raw, env)
  local st = nil
  if raw then
    st = parse_state(raw)
    if not st then
      quarantine(Q, M, id, nil, raw, 'bad-state', now, true)
      return false
    end
    if DM and st.count >= M.maxrc then
      dead_letter(id, st)
      return false
    end
  elseif M.fifo then
    quarantine(Q, M, id, nil, nil, 'missing-state', now, true)
    return false
  end
  if not env or #env > MAX_ENVELOPE then
    quarantine(Q, M, id, st, raw, env and 'oversize' or 'missing-envelope', now, true)
    return false
  end
  if remote and st and st.count >= M.maxrc then
    st.recv = nows
    st.token = token
    out[no + 1] = id
    out[no + 2] = env
    out[no + 3] = -st.count
    out[no + 4] = st.first
    out[no + 5] = redis.call('HGET', Q.errors, id) or ''
    no = no + 5
    sargs[ns + 1] = '~' .. id
    sargs[ns + 2] = format_state(st)
    zargs[ns + 1] = fmt_int(now + LEASE_MS)
    zargs[ns + 2] = id
    ns = ns + 2
    return LEASED
  end
  out[no + 1] = id
  out[no + 2] = env
  sargs[ns + 1] = '~' .. id
  zargs[ns + 1] = deadline
  zargs[ns + 2] = id
  if st then
    if counting then
      st.count = st.count + 1
      if st.first == '' then st.first = nows end
    end
    st.recv = nows
    st.token = token
    sargs[ns + 2] = format_state(st)
    out[no + 3] = st.count
    out[no + 4] = st.first
    out[no + 5] = st.src
  else
    sargs[ns + 2] = fresh_state
    out[no + 3] = fresh_count
    out[no + 4] = fresh_first
    out[no + 5] = ''
  end
  no = no + 5
  ns = ns + 2
  got = got + 1
  return true
end

if not M.fifo then
  -- promote: due delayed messages and expired in-flight ones become visible
  if sweep then
    local due = redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', now, 'LIMIT', 0, LIMIT)
    if #due > 0 then
      bulk('ZREM', Q.delayed, due)
      bulk('RPUSH', Q.ready, due)
    end
    local back = redis.call('ZRANGEBYSCORE', Q.inflight, '-inf', now, 'LIMIT', 0, LIMIT)
    if #back > 0 then
      bulk('ZREM', Q.inflight, back)
      bulk('RPUSH', Q.ready, stated(back))
    end
  end
  for i = 1, nr do take(rid[i], rraw[i], renv[i]) end  -- set apart by the common case
  while got < max and not dry do
    local ids, vals, at = pop_ready(Q, math.min(max - got, CHUNK))
    if not ids then break end
    local ghosts = 0
    for i = 1, #ids do
      local env, raw = vals[i], at[i] and vals[at[i]]
      if raw or env then take(ids[i], raw, env) else ghosts = ghosts + 1 end
    end
    if ghosts > 0 then redis.call('HINCRBY', Q.meta, 'ghosts', -ghosts) end
  end
else
  local touched = {}
  local back = sweep and redis.call('ZRANGEBYSCORE', Q.inflight, '-inf', now, 'LIMIT', 0, LIMIT) or {}
  if #back > 0 then
    bulk('ZREM', Q.inflight, back)
    local sts = multi_get('HMGET', Q.msgs, skeys(back))
    for i = 1, #back do
      local st = parse_state(sts[i])
      if st then
        if redis.call('HINCRBY', Q.gin, st.group, -1) <= 0 then redis.call('HDEL', Q.gin, st.group) end
        touched[st.group] = true
      end
    end
  end
  local due = sweep and redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', now, 'LIMIT', 0, LIMIT) or {}
  if #due > 0 then
    bulk('ZREM', Q.delayed, due)
    for _, member in ipairs(due) do
      local arrival, id = string.match(member, '^(%d+):(.*)$')
      local st = arrival and parse_state(redis.call('HGET', Q.msgs, sk(id)))
      if st then
        redis.call('ZADD', Q.gmsgs, 0, gmember(st.group, arrival, id))
        touched[st.group] = true
      end
    end
  end
  for g in pairs(touched) do refresh_group(Q, g) end
  -- serve groups in the order of their head message; as many of each group as possible
  while got < max do
    local gs = redis.call('ZRANGE', Q.groups, 0, 0)
    if #gs == 0 then break end
    local g = gs[1]
    local delivered = 0
    local leased = false  -- a leased poison message stops its group (it stays its head)
    while got < max and not leased do
      local members = redis.call('ZRANGEBYLEX', Q.gmsgs, '[' .. g .. '\0', '(' .. g .. '\1',
        'LIMIT', delivered, math.min(max - got, CHUNK))
      if #members == 0 then break end
      local ids = {}
      for i, member in ipairs(members) do ids[i] = string.match(member, '%z%d+%z(.*)$') or member end
      local n = #ids
      local vals = redis.call('HMGET', Q.msgs, unpack(with_skeys(ids)))
      for i, id in ipairs(ids) do
        local taken = vals[n + i] and take(id, vals[n + i], vals[i])
        if not vals[n + i] then
          redis.call('ZREM', Q.gmsgs, members[i])  -- a member without a message: drop it
        elseif taken == LEASED then
          delivered = delivered + 1
          leased = true
          break
        elseif taken then
          delivered = delivered + 1
        else
          redis.call('ZREM', Q.gmsgs, members[i])  -- dead-lettered or quarantined
        end
      end
    end
    if delivered > 0 then
      redis.call('HINCRBY', Q.gin, g, delivered)
      redis.call('ZREM', Q.groups, g)
    else
      refresh_group(Q, g)
    end
  end
end

if ns > 0 then
  bulk('HSET', Q.msgs, sargs)
  bulk('ZADD', Q.inflight, zargs)
end
if sweep then
  reset_wake(Q, M, now)  -- after the ZADD: it sees the visibility deadlines set just now
elseif ns > 0 then
  due_at(Q, M, now + math.min(vt, LEASE_MS))  -- the visibility deadlines set just now
end
if got > 0 then
  -- more left for other waiting receivers: pass the wake-up on (signal(Q), but no look at
  -- what is left while a wake-up is pending anyway)
  if got == max and redis.call('LLEN', Q.notify) == 0 then
    if (M.fifo and redis.call('ZCARD', Q.groups) > 0) or (not M.fifo and redis.call('LLEN', Q.ready) > 0) then
      signal(Q)
    end
  end
elseif ns == 0 then
  local best = -1
  local d = redis.call('ZRANGE', Q.delayed, 0, 0, 'WITHSCORES')
  if d[2] then best = tonumber(d[2]) end
  local f = redis.call('ZRANGE', Q.inflight, 0, 0, 'WITHSCORES')
  if f[2] and (best < 0 or tonumber(f[2]) < best) then best = tonumber(f[2]) end
  if best >= 0 then out[2] = math.max(0, best - now) end
end
return out

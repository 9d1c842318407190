--[[
  Constants and the helpers a script's hot path needs, pasted at "--- @include core" lines
  (before "--- @include base", which uses them; see base.lua for the data model). Kept small:
  Redis runs a script's whole chunk on every call, so every helper defined is a closure made
  per call; receive and delete take their common case before they paste base.
]]
local E_NO_QUEUE = -1
local E_STALE_SPEC = -3         -- the caller's cached spec is an older revision
local LIMIT = 1000              -- promotions / expiries per call: O(batch + log N), never a scan
local CHUNK = 1000              -- arguments per redis.call when unpacking a Lua table (even)
local MAX_VIS_MS = 43200000     -- 12 hours (SQS-V-2)
local MAX_ENVELOPE = 1114112    -- 1 MiB message + 64 KiB of envelope; larger is quarantined
local DEDUP_MS = 300000         -- 5 minutes (SQS-F-3)
local STATED = 42               -- '*': a ready-list element whose message has a state entry
local WAKE_MAX_MS = 1000        -- a receive sweeps at least this often while it is called

-- the field of a message's state in the msgs hash
local function sk(id) return '~' .. id end

local function now_ms(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + offset
end

-- The queue's attributes, or nil when it does not exist or is another incarnation. Keys: meta.
local function load_meta(Q, inc)
  local m = redis.call('HMGET', Q.meta, 'inc', 'vt', 'ret', 'delay', 'maxrc', 'dlq', 'fifo', 'scope', 'name',
    'rev', 'xshift', 'wake')
  if not m[1] or (inc ~= nil and m[1] ~= inc) then return nil end
  return {
    inc = m[1], vt = tonumber(m[2]), ret = tonumber(m[3]), delay = tonumber(m[4]),
    maxrc = tonumber(m[5]), dlq = m[6], fifo = m[7] == '1', scope = m[8], name = m[9],
    rev = m[10] or '0', shift = tonumber(m[11] or '0'), wake = tonumber(m[12] or '0'),
  }
end

-- The reply for a caller whose spec revision `rev` is not the queue's (nil when it is, or when
-- the caller passed '' to skip the check). Keys: meta.
local function stale_spec(Q, M, rev)
  if rev == nil or rev == '' or rev == M.rev then return nil end
  return {E_STALE_SPEC, M.rev, redis.call('HGET', Q.meta, 'spec') or ''}
end

-- redis.call(cmd, key, list...) in chunks: Lua's C stack limits unpack() to a few thousand.
local function bulk(cmd, key, list)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + CHUNK - 1, n)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end

-- HMGET-like calls (HMGET, ZMSCORE) over any number of fields, results in order.
local function multi_get(cmd, key, list)
  local out = {}
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + CHUNK - 1, n)
    local part = redis.call(cmd, key, unpack(list, i, j))
    for k = 1, #part do out[i + k - 1] = part[k] end
    i = j + 1
  end
  return out
end

-- Pop up to `count` ids off the ready list and read, in one HMGET, every envelope and the state
-- of each '*' id (the others have none). Returns the ids (marks stripped), the values and, per
-- id, the index of its state among them (nil: none); nil when the list is empty. Keys: ready, msgs.
local function pop_ready(Q, count)
  local ids = redis.call('LPOP', Q.ready, count)
  if not ids then return nil end
  local n = #ids
  local fields, at = {}, {}
  local nf = n
  for i = 1, n do
    local id = ids[i]
    if string.byte(id, 1) == STATED then
      id = string.sub(id, 2)
      ids[i] = id
      nf = nf + 1
      fields[nf] = '~' .. id
      at[i] = nf
    end
    fields[i] = id
  end
  return ids, redis.call('HMGET', Q.msgs, unpack(fields)), at
end

local function fmt_int(n) return string.format('%d', n) end

-- Wake one long-polling receiver (BLPOP on the notify list); receivers pass it on. Keys: notify.
local function signal(Q)
  if redis.call('LLEN', Q.notify) == 0 then
    redis.call('RPUSH', Q.notify, '1')
    redis.call('PEXPIRE', Q.notify, 60000)
  end
end

-- An entry of Q's delayed, in-flight or expiry set falls due at time t (ms; an expiry entry at
-- its score + M.shift): keep the queue's 'wake' at or before it. Keys: meta.
local function due_at(Q, M, t)
  if t < M.wake then
    M.wake = t
    redis.call('HSET', Q.meta, 'wake', fmt_int(t))
  end
end

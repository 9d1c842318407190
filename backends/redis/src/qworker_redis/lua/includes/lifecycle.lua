--[[
  Making and removing one incarnation of a queue, pasted at "--- @include lifecycle" lines.

  Incarnations are numbered by one counter (INCR), so a later incarnation of a name is a larger
  number. A queue's scripts only ever act on the incarnation they are given: a delete of
  incarnation A never removes what a later incarnation B holds, however late it runs.

  On Redis Cluster the registry is in another hash slot, so it is updated in a step of its own
  (before the keys on delete, after registration on create). There a delete leaves a tombstone
  in the meta HASH (field 'dropped' = the incarnation, the hash expiring after a while) so that
  a late create of that incarnation (its creator or a client finishing it, paused until after
  the delete) cannot bring it back without a registry entry.

  Both helpers take every key of the queue (a script that calls them lists all 14).
]]

-- Every key of queue Q (UNLINK them all).
local function unlink_queue(Q)
  redis.call('UNLINK', Q.meta, Q.ready, Q.inflight, Q.delayed, Q.expiry, Q.msgs, Q.errors, Q.notify,
    Q.gmsgs, Q.groups, Q.gin, Q.dedup, Q.dedupx, Q.quarantine)
end

-- true when incarnation a is older than incarnation b
local function older(a, b) return tonumber(a) < tonumber(b) end

-- Make incarnation `inc` from the meta field/value pairs in ARGV[first..], or confirm it exists.
-- Keys an older incarnation left are removed first. `fenced`: a newer incarnation, or the
-- tombstone of a delete of `inc` or of a newer one, wins, and nil is returned (Cluster). Not
-- fenced: the caller checked the registry in the same script, so anything else is leftovers.
-- Returns {1, created_s, modified_s}.
local function make_queue(Q, inc, now, first, fenced)
  local m = redis.call('HMGET', Q.meta, 'inc', 'created', 'modified', 'dropped')
  if m[1] == inc then return {1, tonumber(m[2]), tonumber(m[3])} end
  if fenced and ((m[1] and older(inc, m[1])) or (m[4] and not older(m[4], inc))) then return nil end
  if m[1] or m[4] then unlink_queue(Q) end
  local secs = math.floor(now / 1000)
  redis.call('HSET', Q.meta, 'inc', inc, 'created', secs, 'modified', secs, 'seq', 0, 'ghosts', 0,
    'qn', 0, unpack(ARGV, first))
  return {1, secs, secs}
end

-- Remove incarnation `inc` (and whatever an older one left); leave a newer one alone.
-- tombstone_ms > 0: leave the tombstone described above, expiring after that long.
-- Returns 1 when incarnation `inc` was there, else 0.
local function drop_queue(Q, inc, tombstone_ms)
  local m = redis.call('HMGET', Q.meta, 'inc', 'dropped')
  if m[1] and older(inc, m[1]) then return 0 end
  if m[2] and not older(m[2], inc) then return 0 end
  unlink_queue(Q)
  if tombstone_ms > 0 then
    redis.call('HSET', Q.meta, 'dropped', inc)
    redis.call('PEXPIRE', Q.meta, tombstone_ms)
  end
  if m[1] == inc then return 1 end
  return 0
end

--[[
  List a queue's quarantined messages, oldest first (qworker queue quarantine list, T16).

  KEYS[1]  Q.meta        attributes, incarnation, counters
  KEYS[2]  Q.quarantine  messages set aside
  ARGV[1] incarnation   ARGV[2] max messages   ARGV[3] preview bytes
  Returns {1, total, id, 'reason|ms|raw state', envelope preview, envelope size, ...}, or {-1}.
  Reads the whole hash's field names and small entries (never the envelopes beyond the
  preview): a quarantine is small, and this is an operator's command, not a hot path.
]]
--- @include core
--- @include base

local M = load_meta(Q, ARGV[1])
if not M then return {E_NO_QUEUE} end
local max, preview = tonumber(ARGV[2]), tonumber(ARGV[3])
local entries = {}
for _, f in ipairs(redis.call('HKEYS', Q.quarantine)) do
  if not string.find(f, '\0', 1, true) then
    local info = redis.call('HGET', Q.quarantine, f) or ''
    local ms = tonumber(string.match(info, '^[^|]*|(%d+)|')) or 0
    entries[#entries + 1] = {f, info, ms}
  end
end
table.sort(entries, function(a, b)
  if a[3] ~= b[3] then return a[3] < b[3] end
  return a[1] < b[1]
end)
local out = {1, #entries}
for i = 1, math.min(max, #entries) do
  local id = entries[i][1]
  local env = redis.call('HGET', Q.quarantine, id .. '\0raw') or ''
  out[#out + 1] = id
  out[#out + 1] = entries[i][2]
  out[#out + 1] = string.sub(env, 1, preview)
  out[#out + 1] = #env
end
return out

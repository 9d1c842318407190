-- The loop of benchmarks/bench_serve_loop.py for wrk: SendMessageBatch (10), ReceiveMessage
-- (MaxNumberOfMessages 10, WaitTimeSeconds 0), DeleteMessageBatch of the receipt handles the
-- receive returned, again and again, in the AWS JSON 1.0 protocol.
--
-- Run with as many threads as connections (wrk -t N -c N): each thread's one connection sends
-- its next request when the answer to the last has come, so each thread's state machine
-- (send -> receive -> delete -> send) is sequential, like one client loop.
--
-- Arguments (after wrk's --): the SendMessageBatch body, the ReceiveMessage body, the start of
-- a DeleteMessageBatch body up to its entries ('{"QueueUrl": "...", "Entries": ['), the
-- window's start and end (CLOCK_MONOTONIC seconds, Python's time.monotonic()). Deletes whose
-- answer arrives inside the window are counted; done() prints one line:
--   qworker-loop deleted=<n> errors=<n> first_error=<text>

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } qw_timespec;
int clock_gettime(int clock, qw_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("qw_timespec")

local function monotonic()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- a well-formed SigV4 header nobody checks (moto reads the region from it)
local AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, "
  .. "SignedHeaders=content-type;host;x-amz-target, Signature=" .. string.rep("0", 64)

local function headers(action)
  return {
    ["Content-Type"] = "application/x-amz-json-1.0",
    ["X-Amz-Target"] = "AmazonSQS." .. action,
    ["Authorization"] = AUTHORIZATION,
  }
end

local DELETE_HEADERS = headers("DeleteMessageBatch")

-- the main state's list of threads, read in done()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- per thread (each has its own Lua state)
local send_request, receive_request, delete_prefix, start_at, end_at
local next_request, state
deleted, errors, first_error = 0, 0, ""

function init(args)
  send_request = wrk.format("POST", "/", headers("SendMessageBatch"), args[1])
  receive_request = wrk.format("POST", "/", headers("ReceiveMessage"), args[2])
  delete_prefix = args[3]
  start_at, end_at = tonumber(args[4]), tonumber(args[5])
  next_request, state = send_request, "send"
end

function request()
  return next_request
end

local function failed(what)
  errors = errors + 1
  if first_error == "" then
    first_error = string.sub(what, 1, 300)
  end
  next_request, state = send_request, "send"
end

local function has_failures(body)
  local list = string.match(body, '"Failed"%s*:%s*(%b[])')
  return list ~= nil and string.find(list, "{", 1, true) ~= nil
end

function response(status, _, body)
  if status ~= 200 then
    return failed(state .. ": HTTP " .. status .. ": " .. body)
  end
  if state == "send" then
    if has_failures(body) then
      return failed("send: " .. body)
    end
    next_request, state = receive_request, "receive"
  elseif state == "receive" then
    local entries, n = {}, 0
    for handle in string.gmatch(body, '"ReceiptHandle"%s*:%s*"([^"]*)"') do
      entries[n + 1] = '{"Id":"' .. n .. '","ReceiptHandle":"' .. handle .. '"}'
      n = n + 1
    end
    if n == 0 then
      next_request, state = send_request, "send"
    else
      local payload = delete_prefix .. table.concat(entries, ",") .. "]}"
      next_request, state = wrk.format("POST", "/", DELETE_HEADERS, payload), "delete"
    end
  else
    if has_failures(body) then
      return failed("delete: " .. body)
    end
    local now = monotonic()
    if now >= start_at and now <= end_at then
      local successful = string.match(body, '"Successful"%s*:%s*(%b[])') or ""
      for _ in string.gmatch(successful, '"Id"') do
        deleted = deleted + 1
      end
    end
    next_request, state = send_request, "send"
  end
end

function done()
  local total, errs, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("deleted")
    errs = errs + thread:get("errors")
    if first == "" then
      first = thread:get("first_error")
    end
  end
  io.write(string.format("qworker-loop deleted=%d errors=%d first_error=%s\n", total, errs, first))
end

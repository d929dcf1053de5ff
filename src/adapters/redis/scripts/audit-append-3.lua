--[[
  Appends records to the deployment-wide audit chain, unless someone appended since the caller
  read the chain: records carry their position and the previous hash, so they are only right
  on the head they were built on. Replaces WATCH/MULTI: one round trip, one hash slot.

  KEYS[1] the chain         cs:{audit}:log
  KEYS[2] its head          cs:{audit}:head
  KEYS[3] copy watermarks   cs:{audit}:copied

  ARGV[1] the head the records were built on, exactly as stored ('' for an empty chain)
  ARGV[2] the new head
  ARGV[3] n, the gates whose watermark moves
  ARGV[4 .. 3+3n] for each: gate id, the watermark the caller read ('0' for none), the new one
  ARGV[4+3n ..]   the records, oldest first

  Returns
   { 1 }           appended
   { 0, head }     the head moved (as stored now, '' for none): build on that one
   { -1, gateId }  that gate's watermark moved (another appender copied it): read it again
]]
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return { 0, head } end
local n = tonumber(ARGV[3])
local marks = {}
for i = 0, n - 1 do
  local id = ARGV[4 + 3 * i]
  if (redis.call('HGET', KEYS[3], id) or '0') ~= ARGV[5 + 3 * i] then return { -1, id } end
  marks[#marks + 1] = id
  marks[#marks + 1] = ARGV[6 + 3 * i]
end
-- unpack takes a bounded number of values: push in slices.
local SLICE = 1000
for first = 4 + 3 * n, #ARGV, SLICE do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + SLICE - 1, #ARGV)))
end
for first = 1, #marks, SLICE do
  redis.call('HSET', KEYS[3], unpack(marks, first, math.min(first + SLICE - 1, #marks)))
end
redis.call('SET', KEYS[2], ARGV[2])
return { 1 }

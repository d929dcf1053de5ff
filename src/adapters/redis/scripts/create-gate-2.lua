--[[
  Creates a gate if it does not exist, with its first audit entry, in one step.
  --@include sha256
  --@include audit

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit

  ARGV[1] record JSON (immutable part of the gate)
  ARGV[2] initial state
  ARGV[3] now (epoch ms)
  ARGV[4] review deadline (epoch ms) or ''
  ARGV[5] execution deadline (epoch ms) or ''
  ARGV[6] audit entry JSON
  ARGV[7] TTL of the gate's keys in seconds ('' = keep)

  Returns
   { 1, version }  created
   { 0, state }    a gate with this id exists already (nothing written)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return { 0, redis.call('HGET', KEYS[1], 'state') }
end
local fields = { 'record', ARGV[1], 'state', ARGV[2], 'version', 1, 'createdAt', ARGV[3], 'updatedAt', ARGV[3] }
if ARGV[4] ~= '' then table.insert(fields, 'reviewDeadline'); table.insert(fields, ARGV[4]) end
if ARGV[5] ~= '' then table.insert(fields, 'executionDeadline'); table.insert(fields, ARGV[5]) end
redis.call('HSET', KEYS[1], unpack(fields))
auditAppend(KEYS[2], '', ARGV[2], ARGV[6])
if ARGV[7] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
return { 1, 1 }

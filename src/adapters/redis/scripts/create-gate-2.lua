--[[
  Creates a gate if it does not exist, with its first audit entry, in one step. The first
  link's inputs are all known to the caller (genesis prev, seq 1, from ''), so the caller
  computes its hash and no SHA-256 runs here.

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit

  ARGV[1] record JSON (immutable part of the gate)
  ARGV[2] initial state
  ARGV[3] now (epoch ms)
  ARGV[4] review deadline (epoch ms) or ''
  ARGV[5] execution deadline (epoch ms) or ''
  ARGV[6] audit entry JSON
  ARGV[7] SHA-256 hex of the audit entry JSON
  ARGV[8] the first link's hash

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
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], cjson.encode({ seq = 1, prev = string.rep('0', 64), hash = ARGV[8], digest = ARGV[7],
  from = '', to = ARGV[2], entry = ARGV[6] }))
return { 1, 1 }

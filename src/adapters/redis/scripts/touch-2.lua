--[[
  Applies a passed deadline on read: expires the gate if its current deadline is over.
  --@include sha256
  --@include audit
  --@include deadline

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit
  ARGV[1] now (epoch ms)

  Returns
   { 1, state }   the gate was expired now (from `state`)
   { 0 }   nothing to do
   { -1 }  no such gate
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return { -1 } end
if expireIfDue(KEYS[1], KEYS[2], state, tonumber(ARGV[1])) then return { 1, state } end
return { 0 }

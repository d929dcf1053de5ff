--[[
  Retires a gate whose retention is over: deletes every key of it, but only while it is still
  what the caller checked and copied to the deployment audit chain (a gate that moved on since,
  say an outcome reported after the redeem, is left alone).

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit
  KEYS[3..7] votes, reviewers, notes, slack state, grant-used marker
  ARGV[1] the number of links the chain must have
  ARGV[2] the hash of its last link
  ARGV[3] the cutoff (epoch ms): a gate that moved after it is not due yet
  ARGV[4..] the states a gate may be retired in

  Returns
   { 1 }       retired
   { -1 }      no such gate
   { -2, state } not in a state that may be retired
   { -3 }      the chain is not the one checked (it grew, or its end differs), or the gate
               moved after the cutoff
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return { -1 } end
local allowed = false
for i = 4, #ARGV do
  if ARGV[i] == state then allowed = true end
end
if not allowed then return { -2, state } end
if tonumber(redis.call('HGET', KEYS[1], 'updatedAt') or '0') > tonumber(ARGV[3]) then return { -3 } end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return { -3 } end
local last = redis.call('LINDEX', KEYS[2], -1)
if not last then return { -3 } end
local ok, link = pcall(cjson.decode, last)
if not ok or type(link) ~= 'table' or link.hash ~= ARGV[2] then return { -3 } end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return { 1 }

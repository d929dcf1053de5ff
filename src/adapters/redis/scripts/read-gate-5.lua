--[[
  Reads a gate in one step: its three hashes and, when asked (for a redeem), its audit chain's
  last link and its resolved reviewer set.
  One script instead of MULTI, HGETALLs, LINDEX and EXEC: the same atomic view, and about
  half the client's CPU per read (one command to encode, send and parse instead of six).

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] votes hash      cs:{g:<id>}:votes
  KEYS[3] notes hash      cs:{g:<id>}:notes
  KEYS[4] audit list      cs:{g:<id>}:audit
  KEYS[5] reviewers hash  cs:{g:<id>}:reviewers
  ARGV[1] '1' to read the audit chain's last link and the reviewers, '0' not to

  Returns { gate fields, votes, notes, last link or nil, reviewers or nil } (hashes as flat
  field/value lists; an empty gate list means no such gate)
]]
if ARGV[1] ~= '1' then
  return { redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]) }
end
return { redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]), redis.call('LINDEX', KEYS[4], -1), redis.call('HGETALL', KEYS[5]) }

--[[
  Drops an archived prefix of the deployment chain, only if the chain is still the one the
  archive was checked and written from.

  KEYS[1] the chain        cs:{audit}:log
  KEYS[2] its base         cs:{audit}:base

  ARGV[1] the base the archive started from, exactly as stored ('' for none)
  ARGV[2] n, the records archived (the first n of the list)
  ARGV[3] the hash of the n-th record
  ARGV[4] the new base

  Returns
   { 1 }   trimmed
   { 0 }   the base or the archived records are not what was archived: nothing done
]]
local base = redis.call('GET', KEYS[2]) or ''
if base ~= ARGV[1] then return { 0 } end
local n = tonumber(ARGV[2])
local last = redis.call('LINDEX', KEYS[1], n - 1)
if not last then return { 0 } end
local ok, record = pcall(cjson.decode, last)
if not ok or type(record) ~= 'table' or record.hash ~= ARGV[3] then return { 0 } end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('SET', KEYS[2], ARGV[4])
return { 1 }

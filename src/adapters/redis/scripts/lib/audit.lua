-- Appends one entry to a gate's audit chain. Each stored element is
--   {"seq":n,"prev":"<hex>","hash":"<hex>","from":"<state>","to":"<state>","entry":"<entry JSON text>"}
-- with hash = sha256(prev .. "\n" .. seq .. "\n" .. from .. "\n" .. to .. "\n" .. entry).
-- The first entry's prev is 64 zeros. `entry` is kept as text so verifiers hash the exact bytes.
local GENESIS = string.rep('0', 64)
local function auditAppend(auditKey, from, to, entryJson)
  local prev = GENESIS
  local seq = 1
  local last = redis.call('LINDEX', auditKey, -1)
  if last then
    local decoded = cjson.decode(last)
    prev = decoded.hash
    seq = decoded.seq + 1
  end
  local hash = sha256hex(prev .. '\n' .. seq .. '\n' .. from .. '\n' .. to .. '\n' .. entryJson)
  redis.call('RPUSH', auditKey, cjson.encode({ seq = seq, prev = prev, hash = hash, from = from, to = to, entry = entryJson }))
  return hash
end

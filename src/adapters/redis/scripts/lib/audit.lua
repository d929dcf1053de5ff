-- Appends one entry to a gate's audit chain. Each stored element is
--   {"seq":n,"prev":"<hex>","hash":"<hex>","digest":"<hex>","from":"<state>","to":"<state>","entry":"<entry JSON text>"}
-- where digest = sha256(entry) and
--   hash = sha256(raw(prev) .. raw(digest) .. seq .. "\n" .. from .. "\n" .. to)
-- (raw = the 32 bytes behind the hex). Hashing digests rather than whole entries keeps the
-- in-script work to two SHA-256 blocks. The first entry's prev is 64 zeros. `entry` is kept as
-- text so verifiers hash the exact bytes.
local GENESIS = string.rep('0', 64)
local function rawOfHex(hex)
  return (string.gsub(hex, '..', function(pair) return string.char(tonumber(pair, 16)) end))
end
-- `digest` is the entry's SHA-256 when the caller computed it; otherwise it is computed here.
local function auditAppend(auditKey, from, to, entryJson, digest)
  local prev = GENESIS
  local seq = 1
  local last = redis.call('LINDEX', auditKey, -1)
  if last then
    local decoded = cjson.decode(last)
    prev = decoded.hash
    seq = decoded.seq + 1
  end
  if not digest or digest == '' then digest = sha256hex(entryJson) end
  local hash = sha256hex(rawOfHex(prev) .. rawOfHex(digest) .. seq .. '\n' .. from .. '\n' .. to)
  redis.call('RPUSH', auditKey, cjson.encode({ seq = seq, prev = prev, hash = hash, digest = digest, from = from, to = to, entry = entryJson }))
  return hash
end

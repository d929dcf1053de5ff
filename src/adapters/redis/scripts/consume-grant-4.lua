--[[
  Consumes a gate's grant, once, and links the consumption into the gate's audit chain.
  --@include sha256
  --@include audit

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit
  KEYS[3] notes hash      cs:{g:<id>}:notes     (the `grant` note names the gate's one grant id)
  KEYS[4] used marker     cs:{g:<id>}:grant-used

  ARGV[1] grant id (jti)
  ARGV[2] marker JSON {consumer, consumedAt}
  ARGV[3] marker expiry (epoch ms: the grant's exp plus a margin)
  ARGV[4] audit entry JSON (event grant_consumed)
  ARGV[5] SHA-256 hex of the audit entry JSON

  Returns
   { 1 }             consumed now: marker set, link appended
   { 0, marker }     consumed before (the marker, as stored)
   { -1 }            no such gate
   { -2, state }     the gate is not `redeemed` any more (its outcome was reported, or it was
                     never redeemed): its grant cannot be used now
   { -3 }            the grant is not this gate's
]]
local previous = redis.call('GET', KEYS[4])
if previous then return { 0, previous } end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return { -1 } end
local note = redis.call('HGET', KEYS[3], 'grant')
if not note or cjson.decode(note).jti ~= ARGV[1] then return { -3 } end
if state ~= 'redeemed' then return { -2, state } end
redis.call('SET', KEYS[4], ARGV[2], 'PXAT', ARGV[3])
auditAppend(KEYS[2], state, state, ARGV[4], ARGV[5])
return { 1 }

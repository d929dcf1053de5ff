--[[
  Redeems an approved gate, once: checks state, execution window and evidence hash, then moves
  the gate to `redeemed` and records its one grant — or invalidates the gate when the presented
  evidence differs from the approved one — together with the audit entry, in one step.
  --@include sha256
  --@include audit
  --@include deadline

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit
  KEYS[3] notes hash      cs:{g:<id>}:notes      (the `grant` note: jti, kid, iat, exp, approvers; the invalidation note)

  ARGV[1]  now (epoch ms)
  ARGV[2]  presented evidence hash
  ARGV[3]  approved evidence hash (from the gate's record, which never changes after create)
  ARGV[4]  actor ('agent:<id>')
  ARGV[5]  redeem key: digest of the request's Idempotency-Key ('' when none was sent)
  ARGV[6]  the signed grant ('' when the caller minted none: its read said the gate was not redeemable)
  ARGV[7]  grant id (jti)
  ARGV[8]  grant expiry (epoch seconds)
  ARGV[9]  grant note JSON
  ARGV[10] redeem audit entry JSON          ARGV[11] its SHA-256 hex
  ARGV[12] invalidate audit entry JSON      ARGV[13] its SHA-256 hex
  ARGV[14] re-delivery audit entry JSON     ARGV[15] its SHA-256 hex
  ARGV[16] hash of the audit chain's tail when the caller read it ('' for none)
  ARGV[17] the redeem link's hash over that tail, computed by the caller
  ARGV[18] a note to record with an invalidation (name), and ARGV[19] its JSON value ('' for none):
           written in the same step, so whoever renders the invalidated gate sees it
  Entries are hashed by the caller, so the script hashes only the short chain links — and on
  the hot path not even the redeem link: a link hash costs about 0.2 ms of Lua, most of this
  script's time. ARGV[17] is used only while the tail is still ARGV[16] (nothing can be appended
  to an approved gate's chain without moving the gate, so it nearly always is); otherwise the
  link is hashed here. The stored link is the same either way, and `audit verify` re-derives it.

  The grant is stored in the gate hash (field `grantToken`), never in the notes hash that every
  reader sees as annotations. It is handed out a second time only to a retry of the same request
  (same Idempotency-Key digest, same evidence), once, while it is unexpired; then it is wiped.

  Returns
   {  1, version }             redeemed: the grant is recorded
   {  2, token, version }      the same request asked again: its grant, re-delivered once
   { -1 }                      no such gate
   { -2, state, version }      not approved (nor redeemed): nothing to redeem
   { -3, 'expired', version }  the execution window had ended: the gate is now expired
   { -6, state, version }      the grant was issued already: a replay
   { -7, version }             presented evidence differs: the gate is now invalidated
   { -8, version }             redeemable, but ARGV[6] is empty (the caller read an older state)
]]
local gateKey, auditKey, notesKey = KEYS[1], KEYS[2], KEYS[3]
local now, presented, approved, actor, redeemKey = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local current = redis.call('HMGET', gateKey, 'state', 'version')
local state, version = current[1], tonumber(current[2])
if not state then return { -1 } end
if expireIfDue(gateKey, auditKey, state, now) then return { -3, 'expired', version + 1 } end

if state == 'redeemed' or state == 'completed' or state == 'failed' then
  local issued = redis.call('HMGET', gateKey, 'redeemKey', 'grantToken', 'grantExp')
  local key, token, exp = issued[1], issued[2], tonumber(issued[3] or '')
  if state == 'redeemed' and redeemKey ~= '' and key == redeemKey and presented == approved
    and token and token ~= '' and exp and now < exp * 1000 then
    redis.call('HSET', gateKey, 'grantToken', '', 'grantRedeliveredAt', now)
    auditAppend(auditKey, state, state, ARGV[14], ARGV[15])
    return { 2, token, version }
  end
  return { -6, state, version }
end
if state ~= 'approved' then return { -2, state, version } end

version = version + 1
if presented ~= approved then
  local resolution = cjson.encode({ event = 'invalidate', actor = actor, at = now,
    reason = 'evidence changed after approval: presented ' .. presented .. ', approved ' .. approved })
  redis.call('HSET', gateKey, 'state', 'invalidated', 'version', version, 'updatedAt', now,
    'lastEvent', 'invalidate', 'resolution', resolution)
  if ARGV[18] ~= '' then redis.call('HSET', notesKey, ARGV[18], ARGV[19]) end
  auditAppend(auditKey, state, 'invalidated', ARGV[12], ARGV[13])
  return { -7, version }
end
if ARGV[6] == '' then return { -8, version - 1 } end

redis.call('HSET', gateKey, 'state', 'redeemed', 'version', version, 'updatedAt', now, 'lastEvent', 'redeem',
  'grantId', ARGV[7], 'grantExp', ARGV[8], 'grantToken', ARGV[6], 'redeemKey', redeemKey)
redis.call('HSET', notesKey, 'grant', ARGV[9])

local linked = false
if ARGV[16] ~= '' then
  local last = redis.call('LINDEX', auditKey, -1)
  local tail = last and cjson.decode(last)
  if tail and tail.hash == ARGV[16] then
    redis.call('RPUSH', auditKey, cjson.encode({ seq = tail.seq + 1, prev = tail.hash, hash = ARGV[17], digest = ARGV[11],
      from = state, to = 'redeemed', entry = ARGV[10] }))
    linked = true
  end
end
if not linked then auditAppend(auditKey, state, 'redeemed', ARGV[10], ARGV[11]) end
return { 1, version }

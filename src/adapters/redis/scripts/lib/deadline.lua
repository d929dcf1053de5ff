-- Lazy deadline enforcement: whoever touches a gate after its deadline expires it, in the same
-- atomic step, so a late or lost timer can never let an expired gate be approved or redeemed.
-- Returns true when the gate was expired by this call.
local DEADLINE_FIELD = { pending_review = 'reviewDeadline', approved = 'executionDeadline' }
local function expireIfDue(gateKey, auditKey, state, now)
  local field = DEADLINE_FIELD[state]
  if not field then return false end
  local deadline = tonumber(redis.call('HGET', gateKey, field) or '')
  if not deadline or now < deadline then return false end
  local version = tonumber(redis.call('HGET', gateKey, 'version')) + 1
  local resolution = cjson.encode({ event = 'expire', actor = 'system:deadline', at = deadline,
    reason = (state == 'pending_review') and 'review window ended' or 'execution window ended' })
  redis.call('HSET', gateKey, 'state', 'expired', 'version', version, 'updatedAt', now,
    'lastEvent', 'expire', 'resolution', resolution)
  auditAppend(auditKey, state, 'expired', cjson.encode({ event = 'expire', actor = 'system:deadline',
    at = now, deadline = deadline, detail = 'deadline passed; enforced when the gate was next touched' }))
  return true
end

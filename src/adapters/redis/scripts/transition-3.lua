--[[
  Moves a gate from one state to another with its audit entry, in one step.
  --@include sha256
  --@include audit
  --@include deadline

  KEYS[1] gate hash       cs:{g:<id>}:gate
  KEYS[2] audit list      cs:{g:<id>}:audit
  KEYS[3] notes hash      cs:{g:<id>}:notes

  ARGV[1] event           e.g. 'cancel', 'expire', 'approve'
  ARGV[2] target state
  ARGV[3] legal source states, comma-separated (from the transition table)
  ARGV[4] now (epoch ms)
  ARGV[5] audit entry JSON
  ARGV[6] extra hash fields to set, as a JSON object of strings ('' for none)
  ARGV[7] expected version ('' for any)
  ARGV[8] SHA-256 hex of the audit entry JSON
  ARGV[9] notes to record with the move, as a JSON object of JSON texts ('' for none): written
          in the same step, so whoever renders the moved gate sees them

  Returns
   {  1, version, fromState }          moved
   {  0, state, version }              no-op: the same final event already happened
   { -1 }                              no such gate
   { -2, state, version, lastEvent }   not legal from the current state (conflict)
   { -3, 'expired', version }          its deadline had passed: the gate is now expired
   { -4, state, version }              version differs from the expected one
   { -5, state, deadline }             'expire' asked before the deadline (timer fired early)
]]
local gateKey, auditKey = KEYS[1], KEYS[2]
local event, target, now = ARGV[1], ARGV[2], tonumber(ARGV[4])

local current = redis.call('HMGET', gateKey, 'state', 'version', 'lastEvent')
local state, version, lastEvent = current[1], tonumber(current[2]), current[3]
if not state then return { -1 } end

if event ~= 'expire' and expireIfDue(gateKey, auditKey, state, now) then
  return { -3, 'expired', version + 1 }
end
if event == 'expire' then
  local field = DEADLINE_FIELD[state]
  local deadline = field and tonumber(redis.call('HGET', gateKey, field) or '')
  if deadline and now < deadline then return { -5, state, deadline } end
end

if state == target and lastEvent == event then return { 0, state, version } end
if ARGV[7] ~= '' and tonumber(ARGV[7]) ~= version then return { -4, state, version } end

local legal = false
for source in string.gmatch(ARGV[3], '[^,]+') do
  if source == state then legal = true end
end
if not legal then return { -2, state, version, lastEvent or '' } end

version = version + 1
local fields = { 'state', target, 'version', version, 'updatedAt', ARGV[4], 'lastEvent', event }
if ARGV[6] ~= '' then
  for k, v in pairs(cjson.decode(ARGV[6])) do
    table.insert(fields, k)
    table.insert(fields, tostring(v))
  end
end
redis.call('HSET', gateKey, unpack(fields))
if ARGV[9] ~= '' then
  local notes = {}
  for k, v in pairs(cjson.decode(ARGV[9])) do
    table.insert(notes, k)
    table.insert(notes, v)
  end
  if #notes > 0 then redis.call('HSET', KEYS[3], unpack(notes)) end
end
auditAppend(auditKey, state, target, ARGV[5], ARGV[8])
return { 1, version, state }

--[[
  Records one reviewer's vote and, when it decides the gate, the decision — in one step.
  Every dual-control rule is checked here so no interleaving of clicks can count twice.
  --@include sha256
  --@include audit
  --@include deadline

  KEYS[1] gate hash        cs:{g:<id>}:gate
  KEYS[2] audit list       cs:{g:<id>}:audit
  KEYS[3] votes hash       cs:{g:<id>}:votes       voter id → vote JSON
  KEYS[4] reviewers hash   cs:{g:<id>}:reviewers   user id → team label ('' for none)
  KEYS[5] notes hash       cs:{g:<id>}:notes       (requesterSlackId, requesterSlackIdFromEmail)

  ARGV[1]  voter Slack user id
  ARGV[2]  voter's mailbox (email lowercase, without +tag; '' when unknown)
  ARGV[3]  'approve' | 'deny'
  ARGV[4]  now (epoch ms)
  ARGV[5]  reason ('' for approvals)
  ARGV[6]  requester's mailbox (email lowercase, without +tag)
  ARGV[7]  agent owner (Slack id or mailbox) when policy excludes the owner, else ''
  ARGV[8]  quorum N (distinct approvers)
  ARGV[9]  distinct teams M (0 or 1 = no team rule)
  ARGV[10] execution window in ms (an approved gate must be redeemed within it)
  ARGV[11] the requester's Slack id as the agent sent it ('' when none)

  Returns
   {  1, approvals, teams }         vote counted; the gate still waits
   {  2, state, version }           the vote decided the gate ('approved' or 'denied')
   { -1 }                           no such gate
   { -2, state }                    the gate is not waiting for review
   { -3, 'expired' }                the review window had ended: the gate is now expired
   { -10 }                          the voter is not in the reviewer set
   { -11 }                          the voter is the requester
   { -12 }                          the voter is the agent's owner
   { -13, previous vote JSON }      the voter has voted already
   { -14 }                          an approval, the voter's email is unknown, and the
                                    requester's Slack id was not resolved from their email
                                    (or the owner is named by email): whether the voter is
                                    the requester or the owner cannot be told
]]
local gateKey, auditKey, votesKey, reviewersKey, notesKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local voter, voterEmail, choice, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local state = redis.call('HGET', gateKey, 'state')
if not state then return { -1 } end
if expireIfDue(gateKey, auditKey, state, now) then return { -3, 'expired' } end
if state ~= 'pending_review' then return { -2, state } end

local requesterSlack = redis.call('HGET', notesKey, 'requesterSlackId')
if requesterSlack then requesterSlack = cjson.decode(requesterSlack) end
-- The requester, by every id on record: the one the change record resolved from the email, the
-- one the agent sent, and the mailbox. With none of them checkable, an approval fails closed
-- (a denial cannot grant anything, so it still counts).
if voter == requesterSlack or (ARGV[11] ~= '' and voter == ARGV[11]) or (voterEmail ~= '' and voterEmail == ARGV[6]) then return { -11 } end
if ARGV[7] ~= '' and (voter == ARGV[7] or (voterEmail ~= '' and voterEmail == ARGV[7])) then return { -12 } end
-- Without the voter's email, an approval needs the requester's Slack id as resolved from their
-- email (an id only the agent vouches for may be wrong), and an owner named by Slack id.
local requesterFromEmail = redis.call('HGET', notesKey, 'requesterSlackIdFromEmail') == 'true'
if choice == 'approve' and voterEmail == '' and (not requesterSlack or not requesterFromEmail or string.find(ARGV[7], '@', 1, true)) then
  return { -14 }
end

local team = redis.call('HGET', reviewersKey, voter)
if not team then return { -10 } end

local previous = redis.call('HGET', votesKey, voter)
if previous then return { -13, previous } end

local vote = { voter = voter, vote = choice, at = now }
if team ~= '' then vote.team = team end
if ARGV[5] ~= '' then vote.reason = ARGV[5] end
redis.call('HSET', votesKey, voter, cjson.encode(vote))
auditAppend(auditKey, state, state, cjson.encode({ event = 'vote', actor = 'slack:' .. voter, at = now, vote = choice,
  team = team, reason = vote.reason }))

local function decide(target, event, resolution, extra)
  local version = tonumber(redis.call('HGET', gateKey, 'version')) + 1
  redis.call('HSET', gateKey, 'state', target, 'version', version, 'updatedAt', now, 'lastEvent', event,
    'resolution', cjson.encode(resolution), unpack(extra))
  auditAppend(auditKey, state, target, cjson.encode({ event = event, actor = resolution.actor, at = now,
    reason = resolution.reason, approvers = resolution.approvers }))
  return { 2, target, version }
end

if choice == 'deny' then
  return decide('denied', 'deny', { event = 'deny', actor = 'slack:' .. voter, at = now, reason = ARGV[5] }, {})
end

local approvers, teams, teamCount = {}, {}, 0
for _, raw in ipairs(redis.call('HVALS', votesKey)) do
  local v = cjson.decode(raw)
  if v.vote == 'approve' then
    table.insert(approvers, v.voter)
    if v.team and not teams[v.team] then
      teams[v.team] = true
      teamCount = teamCount + 1
    end
  end
end
local quorum, distinctTeams = tonumber(ARGV[8]), tonumber(ARGV[9])
if #approvers >= quorum and (distinctTeams <= 1 or teamCount >= distinctTeams) then
  table.sort(approvers)
  return decide('approved', 'approve', { event = 'approve', actor = 'slack:' .. voter, at = now, approvers = approvers },
    { 'executionDeadline', string.format('%d', now + tonumber(ARGV[10])) })
end
return { 1, #approvers, teamCount }

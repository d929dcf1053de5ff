/**
 * Redis key layout. Every key of one gate shares the hash tag `{g:<id>}` so that every script
 * touching a gate stays legal on Redis Cluster (DESIGN.md, "Storage and scale-out").
 */
export const gateKeys = (gateId: string) => {
  const tag = `cs:{g:${gateId}}`;
  return {
    gate: `${tag}:gate`,
    audit: `${tag}:audit`,
    votes: `${tag}:votes`,
    reviewers: `${tag}:reviewers`,
    notes: `${tag}:notes`,
    /** The Slack write state (what was posted, which revision is shown). */
    slack: `${tag}:slack`,
    /** Set when the gate's grant was consumed (who, when); kept until the grant's expiry. */
    grantUsed: `${tag}:grant-used`,
  };
};

/** Idempotency records live in their own slot per agent. */
export const idempotencyKey = (agentId: string, keyDigest: string) => `cs:{idem:${agentId}}:${keyDigest}`;

/**
 * Gates a Slack user may vote on and has not voted on yet (score = review deadline), for App
 * Home. Kept by the store when reviewers are recorded and by HomeIndex when votes and decisions
 * happen; readers drop what has passed its deadline.
 */
export const awaitingIndexKey = (slackUserId: string) => `cs:idx:awaiting:${slackUserId}`;

/**
 * Gates requested on behalf of one person (lowercase email; score = createdAt), for their App
 * Home. Written by the store with each new gate; holds about the last hundred.
 */
export const requesterIndexKey = (email: string) => `cs:idx:requester:${email.toLowerCase()}`;

/** Gates waiting on a deadline (score = deadline), for the sweeper. */
export const DEADLINE_INDEX = 'cs:idx:deadlines';

/** Gates in a final state (score = when they reached it), for retention (see GateRetention). */
export const RETIRE_INDEX = 'cs:idx:retire';

import { z } from 'zod';
import { AgentNetworks, CATEGORY_TEXT, describeAddress, isIpAddress } from './agent-networks.js';

/**
 * The bounded action an agent asks permission for (DESIGN.md, "The bounded action").
 * Objects are strict: a field reviewers would never see must not ride along in the hash.
 */

export const LIMITS = {
  bodyBytes: 1024 * 1024,
  summary: 200,
  shortText: 128,
  mediumText: 2_000,
  longText: 512 * 1024,
  resourceId: 1_024,
  resources: 100,
  permissions: 50,
  downstream: 20,
  commands: 50,
  command: 16_384,
  attributes: 32,
  jsonDepth: 16,
  jsonNodes: 20_000,
} as const;

/** Lowercase dotted identifiers: `k8s.deploy`, `iam.attach_role_policy`. */
export const ACTION_ID = /^[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*$/;
/** Environment names: `production`, `staging-eu`. */
export const ENVIRONMENT_ID = /^[a-z][a-z0-9_-]*$/;
/** Resource types: `k8s.deployment`, `aws.iam_role`, `postgres.table`. */
export const RESOURCE_TYPE = /^[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*$/;
/** Grant audiences: executor names such as `deploy-runner`. */
export const AUDIENCE_ID = /^[a-z0-9][a-z0-9._:-]*$/;

/** What every refusal of an agent URL says first: what is wanted, and who can widen it. */
export const AGENT_URL_RULE = 'must be an https URL to a public address (COUNTERSIGN_AGENT_NETWORKS allows others)';

const isLoopbackName = (host: string) => host === 'localhost' || host === 'localhost.';

/**
 * Why an agent URL (`callbackUrl`, `revalidateUrl`) is refused, as far as its text shows, or
 * undefined. IP-literal hosts (numeric forms such as `http://2130706433/` are normalised to
 * 127.0.0.1 first) must be in `networks`; plain http only to a loopback host, and only where
 * loopback is allowed. Host names are checked when they are called, against what they resolve to.
 */
export function agentUrlProblem(value: string, networks: AgentNetworks): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${AGENT_URL_RULE}: not a URL`;
  }
  if (url.username !== '' || url.password !== '') return `${AGENT_URL_RULE}: no user name or password in the URL`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return AGENT_URL_RULE;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIpAddress(host)) {
    const verdict = networks.check(host);
    if (!verdict.allowed) return `${AGENT_URL_RULE}: ${describeAddress(verdict)} is ${CATEGORY_TEXT[verdict.category]}`;
    if (url.protocol === 'http:' && verdict.category !== 'loopback') return `${AGENT_URL_RULE}: plain http is only for loopback hosts`;
    return undefined;
  }
  if (isLoopbackName(host)) {
    if (!networks.allowsLoopback('127.0.0.1') && !networks.allowsLoopback('::1')) return `${AGENT_URL_RULE}: ${host} is a loopback host`;
    return undefined;
  }
  if (url.protocol === 'http:') return `${AGENT_URL_RULE}: plain http is only for loopback hosts`;
  return undefined;
}

/** A string that is valid Unicode (no lone surrogates: RFC 8785 cannot represent them). */
const text = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => s.isWellFormed(), { message: 'contains a lone surrogate (not valid Unicode)' });

const identifier = (pattern: RegExp, max: number, what: string) =>
  z.string().max(max).regex(pattern, { message: `must be ${what}` });

/** Checks that free-form JSON stays within depth and size bounds and holds only finite numbers and valid strings. */
function jsonShapeProblem(value: unknown): string | undefined {
  let nodes = 0;
  const walk = (v: unknown, depth: number): string | undefined => {
    nodes += 1;
    if (nodes > LIMITS.jsonNodes) return `has more than ${LIMITS.jsonNodes} values`;
    if (depth > LIMITS.jsonDepth) return `nests deeper than ${LIMITS.jsonDepth} levels`;
    if (v === null || typeof v === 'boolean') return undefined;
    if (typeof v === 'number') return Number.isFinite(v) ? undefined : 'holds a non-finite number';
    if (typeof v === 'string') return v.isWellFormed() ? undefined : 'holds a lone surrogate';
    if (Array.isArray(v)) {
      for (const item of v) {
        const p = walk(item, depth + 1);
        if (p) return p;
      }
      return undefined;
    }
    if (typeof v === 'object') {
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        if (!k.isWellFormed()) return 'has a key with a lone surrogate';
        const p = walk(item, depth + 1);
        if (p) return p;
      }
      return undefined;
    }
    return `holds a ${typeof v}, which JSON cannot carry`;
  };
  return walk(value, 0);
}

/** Any JSON value within the bounds above. */
export const boundedJson = z.unknown().superRefine((value, ctx) => {
  const problem = jsonShapeProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const Resource = z.strictObject({
  type: identifier(RESOURCE_TYPE, 64, 'a lowercase dotted identifier such as "k8s.deployment"'),
  id: text(LIMITS.resourceId),
  attributes: z
    .record(z.string().max(64), z.union([text(256, 0), z.number().finite(), z.boolean()]))
    .refine((r) => Object.keys(r).length <= LIMITS.attributes, { message: `at most ${LIMITS.attributes} attributes` })
    .optional(),
});
export type Resource = z.infer<typeof Resource>;

export const Permission = z.strictObject({
  name: text(256),
  reason: text(LIMITS.mediumText),
});
export type Permission = z.infer<typeof Permission>;

export const ARTIFACT_KINDS = ['image', 'commit', 'plan', 'query', 'package', 'other'] as const;
export const Artifact = z.strictObject({
  kind: z.enum(ARTIFACT_KINDS),
  ref: text(LIMITS.resourceId),
});

export const Evidence = z.strictObject({
  diff: text(LIMITS.longText, 0).optional(),
  commands: z.array(text(LIMITS.command)).max(LIMITS.commands).optional(),
  parameters: boundedJson.optional(),
  plan: boundedJson.optional(),
});
export type Evidence = z.infer<typeof Evidence>;

export const Impact = z.strictObject({
  expected: text(LIMITS.mediumText),
  rollback: text(LIMITS.mediumText),
});

export const DownstreamAction = z.strictObject({
  action: identifier(ACTION_ID, 128, 'a lowercase dotted action id such as "webhook.trigger"'),
  resources: z.array(Resource).max(LIMITS.resources).optional(),
});
export type DownstreamAction = z.infer<typeof DownstreamAction>;

export const Requester = z.strictObject({
  email: z.email().max(254),
  name: text(LIMITS.shortText).optional(),
  slackUserId: z.string().regex(/^[UW][A-Z0-9]{2,20}$/, { message: 'must be a Slack user id such as "U012ABCDEF"' }).optional(),
});

export const GateContext = z.strictObject({
  requester: Requester,
  agentSession: text(LIMITS.shortText),
  workflowId: text(LIMITS.shortText).optional(),
  intent: text(LIMITS.mediumText).optional(),
});

export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export const RiskLevel = z.enum(RISK_LEVELS);
export type RiskLevel = z.infer<typeof RiskLevel>;

/** An agent URL, checked against the networks agents may be called on. */
const agentUrl = (networks: AgentNetworks) =>
  z
    .string()
    .max(2_048)
    .superRefine((value, ctx) => {
      const problem = agentUrlProblem(value, networks);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe('https URL to a public address (a deployment may allow other networks: COUNTERSIGN_AGENT_NETWORKS); plain http only to a loopback host where loopback is allowed. Checked again against the address connected to');

/** The delivery options, with agent URLs checked against `networks`. */
export function deliverySchema(networks: AgentNetworks) {
  return z.strictObject({
    callbackUrl: agentUrl(networks).optional(),
    revalidateUrl: agentUrl(networks).optional(),
    reviewWindowSeconds: z.number().int().min(60).max(7 * 24 * 3600).optional(),
  });
}

export const Delivery = deliverySchema(AgentNetworks.publicOnly);
export type Delivery = z.infer<typeof Delivery>;

/**
 * The whole request body of `POST /v1/gates`, with agent URLs checked against `networks`. No
 * defaults are applied: the stored request is exactly what the agent sent, so anyone can
 * recompute its evidence hash.
 */
export function gateRequestSchema(networks: AgentNetworks) {
  return z.strictObject({
    action: identifier(ACTION_ID, 128, 'a lowercase dotted action id such as "k8s.deploy"'),
    summary: text(LIMITS.summary),
    environment: identifier(ENVIRONMENT_ID, 64, 'a lowercase identifier such as "production"'),
    resources: z.array(Resource).min(1).max(LIMITS.resources),
    permissions: z.array(Permission).max(LIMITS.permissions),
    artifact: Artifact.optional(),
    evidence: Evidence,
    impact: Impact,
    downstream: z.array(DownstreamAction).max(LIMITS.downstream).optional(),
    context: GateContext,
    /** What the agent says about its own risk: it may raise the computed level, never lower it. */
    declaredRisk: RiskLevel.optional(),
    audience: identifier(AUDIENCE_ID, 128, 'an executor name such as "deploy-runner"'),
    delivery: deliverySchema(networks).optional(),
  });
}

/** The request body schema with the default rule for agent URLs (public addresses only). */
export const GateRequest = gateRequestSchema(AgentNetworks.publicOnly);
/** A validated request, as stored. */
export type GateRequest = z.output<typeof GateRequest>;
/** The bounded action without `delivery`: what the evidence hash covers. */
export type BoundedAction = Omit<GateRequest, 'delivery'>;

/** Splits a validated request into the hashed action and its delivery options. */
export function splitDelivery(request: GateRequest): { action: BoundedAction; delivery: Delivery } {
  const { delivery, ...action } = request;
  return { action, delivery: delivery ?? {} };
}

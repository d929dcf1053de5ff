import type { z } from 'zod';
import { CountersignError, ErrorCode, type FieldIssue } from './errors.js';
import { AgentNetworks } from './agent-networks.js';
import { gateRequestSchema, type GateRequest } from './gate-request.js';

/** JSON pointer (RFC 6901) for a zod issue path. */
export function pointerOf(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '';
  return `/${path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}

/** Flattens zod issues (including unrecognized keys) into pointers and messages. */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ pointer: pointerOf([...issue.path, key]), message: 'is not a known field' });
    } else {
      out.push({ pointer: pointerOf(issue.path), message: issue.message });
    }
  }
  return out.slice(0, 50);
}

/** One request schema per set of agent networks (a deployment has one). */
const schemas = new WeakMap<AgentNetworks, ReturnType<typeof gateRequestSchema>>();

/**
 * Validates a gate request body, with agent URLs checked against `networks` (the deployment's
 * COUNTERSIGN_AGENT_NETWORKS); throws `ERR_INVALID_REQUEST` listing every failing field.
 */
export function parseGateRequest(body: unknown, networks: AgentNetworks = AgentNetworks.publicOnly): GateRequest {
  let schema = schemas.get(networks);
  if (!schema) {
    schema = gateRequestSchema(networks);
    schemas.set(networks, schema);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = fieldIssues(parsed.error);
  const first = issues[0];
  const summary = first ? `${first.pointer || '/'} ${first.message}` : 'invalid';
  throw new CountersignError(
    ErrorCode.InvalidRequest,
    `the gate request is invalid: ${summary}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
    { issues },
  );
}

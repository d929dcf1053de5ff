#!/usr/bin/env node
// Signs a gate request the Standard Webhooks way and sends it: the whole agent protocol in a
// page of plain Node. Usage: node scripts/send-gate.mjs <request.json> [agent-id]
// The secret comes from COUNTERSIGN_AGENT_<ID>_SECRET, or from .countersign/dev-agent-secrets.json
// when the server runs on embedded defaults.
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

const [file, agent = 'demo-agent'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/send-gate.mjs <request.json> [agent-id]');
  process.exit(2);
}
const envName = `COUNTERSIGN_AGENT_${agent.toUpperCase().replaceAll('-', '_')}_SECRET`;
const devFile = '.countersign/dev-agent-secrets.json';
const secret = process.env[envName] ?? (existsSync(devFile) ? JSON.parse(readFileSync(devFile, 'utf8'))[agent] : undefined);
if (!secret) {
  console.error(`no secret: set ${envName}, or start the server on embedded defaults (it writes ${devFile})`);
  process.exit(2);
}

const body = readFileSync(file, 'utf8');
const id = `msg_${randomUUID().replaceAll('-', '')}`;
const timestamp = Math.floor(Date.now() / 1000);
const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');

const base = process.env.COUNTERSIGN_URL ?? 'http://localhost:3000';
const res = await fetch(`${base}/v1/gates`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'idempotency-key': randomUUID(),
    'countersign-agent': agent,
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${signature}`,
  },
  body,
});
console.log(res.status, JSON.stringify(await res.json(), null, 2));
process.exit(res.ok ? 0 : 1);

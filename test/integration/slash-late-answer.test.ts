import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_WORKSPACE, demoUser } from '../../src/sandbox/demo-workspace.js';
import { signedSlashCommand, slashCommandFields } from '../../src/sandbox/slack-interactions.js';
import { DEFAULT_TOKEN, startSlackWebApi, type SlackWebApiStandIn } from '../../src/sandbox/slack-web-api.js';
import { call } from '../support/agent-http.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, SIGNING_SECRET } from '../support/slack.js';
import { ADMIN_GROUP, requestGate, SECURITY_CHANNEL } from './admin-support.js';

// Slack waits three seconds for a slash command's acknowledgement. A command whose work takes
// longer (here a break-glass while Slack is slow to take the security channel's announcement)
// is acknowledged in time, and its answer follows through the response_url.

let slack: SlackWebApiStandIn;
let proxy: Server;
let responses: Server;
const answers: Array<Record<string, unknown>> = [];
let t: TestApp;

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

beforeAll(async () => {
  slack = await startSlackWebApi({ ...DEMO_WORKSPACE });
  const target = new URL(slack.url);
  // A Slack that takes 4 s to answer a post to the security channel; everything else at once.
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const slow = (req.url ?? '').includes('chat.postMessage') && body.toString().includes(SECURITY_CHANNEL);
      setTimeout(() => {
        const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        up.end(body);
      }, slow ? 4_000 : 0).unref();
    });
  });
  const proxyUrl = await listen(proxy);
  responses = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      answers.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
      res.writeHead(200).end('ok');
    });
  });
  await listen(responses);
  t = await startTestApp({ env: { SLACK_BOT_TOKEN: DEFAULT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: `${proxyUrl}/api/`, COUNTERSIGN_ADMIN_GROUP: ADMIN_GROUP } });
});
afterAll(async () => {
  await t?.close();
  await slack?.close();
  proxy?.closeAllConnections();
  proxy?.close();
  responses?.close();
});

test('a break-glass that outlasts the three seconds is acknowledged in time; its answer follows through the response_url', async () => {
  const gate = await requestGate({ ...t, slack } as never, 'terraform-apply-prod', 'terraform-bot');
  const actor = { id: demoUser('jonas').id, name: 'jonas' };
  const responseUrl = `http://127.0.0.1:${(responses.address() as AddressInfo).port}/commands/1`;
  const { body, headers } = signedSlashCommand(
    SIGNING_SECRET,
    slashCommandFields({ actor, command: '/countersign', text: `break-glass ${gate.id} payments is down and the owners do not answer`, channel: 'C07KVJ50CE9', triggerId: slack.issueTriggerId({ user: actor.id }), responseUrl }),
  );
  const started = Date.now();
  const ack = await call(t.app.url, 'POST', '/slack/events', { body, headers });
  expect(Date.now() - started).toBeLessThan(3_000);
  expect(ack.status).toBe(200);
  expect(ack.body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('Working on it') });

  const late = await eventually(() => answers.find((a) => String(a.text).includes('approved by break-glass')), 10_000);
  expect(late).toMatchObject({ response_type: 'ephemeral' });
  expect((await t.app.ctx.store.read(gate.id))!.state).toBe('approved');
}, 20_000);

import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { CountersignClient } from '../../src/client/index.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { DEFAULT_TOKEN } from '../../src/sandbox/slack-web-api.js';
import { BROWSER_REQUIRED, CHROMIUM_ARGS, chromiumPath } from './browser.js';
import { alive, REPO, startDemo, type DemoProcess } from './demo-process.js';

/**
 * The newcomer's path, in a real browser: `npm run demo`, open the one URL it prints, and
 * approve the dual-control IAM change as two security reviewers. The scripted agent must then
 * redeem its grant, and Ctrl-C must leave no process behind.
 */

const executablePath = chromiumPath();
if (!executablePath && BROWSER_REQUIRED) throw new Error('COUNTERSIGN_REQUIRE_BROWSER=1 but no chromium: apt-get install -y chromium');
const suite = executablePath ? describe : describe.skip;
if (!executablePath) console.warn('sandbox browser test skipped: no chromium (apt-get install -y chromium, or set CHROMIUM_PATH)');

const SECURITY_CHANNEL = 'C04DT2SYWB3';
const IAM_SUMMARY = 'Attach SecretsRotation policy to role ci-deployer';
const SCREENSHOT = join(REPO, 'test-output', 'sandbox-dual-control.png');

let demo: DemoProcess;
let context: BrowserContext;
let profile: string;
let page: Page;
let url: string;

suite('npm run demo in a browser', () => {
  beforeAll(async () => {
    demo = startDemo();
    url = (await demo.waitFor(/Open (http:\/\/127\.0\.0\.1:\d+\/\S*)/))[1]!;
    // The IAM request is third in demo/scenario.json: wait until its change record exists.
    await demo.waitFor(/iam-attach-admin-policy: asks for iam\.attach_role_policy.*waits for 2 approvals from security/);
    profile = mkdtempSync(join(tmpdir(), 'countersign-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: executablePath!, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 } });
    page = context.pages()[0] ?? (await context.newPage());
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    demo?.cleanup();
  });

  /** The IAM change record in #security-approvals (not a thread reply, not an ephemeral). */
  const changeRecord = (): Locator => page.locator(`.messages[data-channel="${SECURITY_CHANNEL}"] > * > article.message:not(.ephemeral), .messages[data-channel="${SECURITY_CHANNEL}"] > article.message:not(.ephemeral)`).filter({ hasText: IAM_SUMMARY }).first();

  async function actAs(name: string): Promise<void> {
    await page.selectOption('#act-as', demoUser(name).id);
    // The page marks whose view it shows once that person's snapshot is rendered.
    await page.locator(`body[data-acting-as="${demoUser(name).id}"]`).waitFor();
  }

  async function approve(): Promise<void> {
    await changeRecord().locator('button[data-action-id="gate_approve"]').click();
    // High risk: Slack asks to confirm, with what exactly is being approved.
    const confirm = page.getByRole('alertdialog');
    await expect(confirm.textContent()).resolves.toContain('iam.attach_role_policy');
    await confirm.locator('.btn-primary').click();
  }

  test('two security reviewers approve the IAM change; the agent redeems its grant', async () => {
    // Setup: the page, acting as the agent's owner first.
    await page.goto(url);
    await page.locator(`a[data-conversation="${SECURITY_CHANNEL}"]`).click();
    await changeRecord().waitFor();
    expect(await changeRecord().textContent()).toContain('0 of 2 approvals');

    // Execution 1: Tomás owns iam-agent; the policy excludes the owner. Only he sees why.
    await actAs('tomas');
    await changeRecord().locator('button[data-action-id="gate_approve"]').click();
    await page.getByRole('alertdialog').locator('.btn-primary').click();
    await page.locator('article.message.ephemeral', { hasText: 'you own the agent that asked' }).waitFor();
    expect(await changeRecord().textContent()).toContain('0 of 2 approvals');

    // Execution 2: Grace approves; the record shows one of two, and the buttons stay.
    await actAs('grace');
    await expect(page.locator('article.message.ephemeral', { hasText: 'you own the agent that asked' }).count()).resolves.toBe(0);
    await approve();
    await changeRecord().filter({ hasText: '1 of 2 approvals' }).waitFor();
    await expect(changeRecord().locator('button[data-action-id="gate_approve"]').count()).resolves.toBe(1);

    // Execution 3: Omar approves: quorum met.
    await actAs('omar');
    await approve();

    // Validation: the record is final (no buttons, approved by both), with a thread reply.
    await changeRecord().filter({ hasText: 'Approved by' }).filter({ hasNot: page.locator('button[data-action-id="gate_approve"]') }).waitFor({ timeout: 15_000 });
    const record = await changeRecord().textContent();
    expect(record).toMatch(/Grace Lee|@grace/);
    expect(record).toMatch(/Omar Haddad|@omar/);
    await page.locator('.thread article.message').first().waitFor();

    // The scripted agent redeemed the grant; the executor consumed it once; the outcome closed the chain.
    await demo.waitFor(/iam-attach-admin-policy: redeemed grant gr_\w+ for iam-broker/, 20_000);
    await demo.waitFor(/iam-attach-admin-policy: iam-broker verified the grant \(approvers: 2\) and consumed it once/, 20_000);
    await page.locator('a[data-conversation="agent"]').click();
    await page.locator('.activity-item', { hasText: 'iam-attach-admin-policy: redeemed grant' }).waitFor();

    // Back to the record for the screenshot.
    await page.locator(`a[data-conversation="${SECURITY_CHANNEL}"]`).click();
    await page.setViewportSize({ width: 1400, height: 1500 });
    await changeRecord().evaluate((node) => node.scrollIntoView({ block: 'start' }));
    mkdirSync(join(REPO, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    // `UPDATE_DOCS_SCREENSHOT=1 npm test -- test/e2e` refreshes the README's picture.
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') copyFileSync(SCREENSHOT, join(REPO, 'docs', 'sandbox.png'));
    await page.setViewportSize({ width: 1400, height: 1000 });
  }, 120_000);

  test('a service owner denies the Terraform change in a modal; the reason reaches the agent', async () => {
    // Setup: Elena owns payments, one of the service-owner groups; Ana asked, so she cannot review.
    await actAs('elena');
    await page.locator('a[data-conversation="C06VW53EFR4"]').click();
    const record = page.locator('article.message:not(.ephemeral)', { hasText: 'Apply plan 7f3c' }).first();
    await record.locator('button[data-action-id="gate_deny"]').click();
    // Execution: the deny modal opens; an empty reason is refused inside the modal.
    const modal = page.getByRole('dialog');
    await modal.waitFor();
    expect(await modal.locator('.dialog-title').textContent()).toBe('Deny request');
    await modal.locator('.btn-primary').click();
    await modal.locator('.input-error', { hasText: 'A reason is required' }).waitFor();
    await modal.locator('textarea, input').first().fill('Split the replica from the autoscaling change');
    await modal.locator('.btn-primary').click();
    // Validation: the modal closes, the record shows the denial, the agent prints the reason.
    await modal.waitFor({ state: 'detached' });
    await record.filter({ hasText: 'Denied' }).filter({ hasNot: page.locator('button[data-action-id="gate_deny"]') }).waitFor();
    await demo.waitFor(/terraform-apply-prod: denied: Split the replica from the autoscaling change/, 15_000);
  }, 60_000);

  test('agent-supplied text is rendered as text, never as markup', async () => {
    // Setup: an agent puts markup and a javascript: link into the fields reviewers read.
    const apiPort = (await demo.waitFor(/API on port (\d+)/))[1];
    const secrets = JSON.parse(readFileSync(join(demo.cwd, '.countersign', 'dev-agent-secrets.json'), 'utf8')) as Record<string, string>;
    const client = new CountersignClient({ url: `http://127.0.0.1:${apiPort}`, agentId: 'iam-agent', secret: secrets['iam-agent']! });
    const hostile = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> <javascript:window.__xss=3|open>';
    const request = JSON.parse(readFileSync(join(REPO, 'examples', 'iam-attach-admin-policy.json'), 'utf8')) as Record<string, any>;
    request.summary = `Rotate ${hostile}`.slice(0, 200);
    request.context.intent = hostile;
    const gate = await client.submit(request);
    expect(gate.state).toBe('pending_review');
    // Execution
    await page.locator(`a[data-conversation="${SECURITY_CHANNEL}"]`).click();
    const record = page.locator('article.message', { hasText: 'window.__xss=1' }).first();
    await record.waitFor();
    // Validation: the markup is visible as text, nothing ran, no element came from it.
    expect(await record.textContent()).toContain('<img src=x onerror="window.__xss=1">');
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(await record.locator('img, script, a[href^="javascript"]').count()).toBe(0);
    await client.cancel(gate.id, 'test done');
  }, 30_000);

  test('a click is not lost when the page updates while the button is held down', async () => {
    // Setup: the pointer pressed on a sidebar link (a click is a press and a release on one element).
    await page.locator(`a[data-conversation="${SECURITY_CHANNEL}"]`).click();
    const link = page.locator('a[data-conversation="C07KVJ50CE9"]');
    const box = (await link.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    // Execution: meanwhile the app posts elsewhere, and the page fetches what changed.
    const fetched = page.waitForResponse(async (r) => r.url().includes('/sandbox/snapshot') && (await r.text()).includes('An unrelated alert'));
    const posted = await fetch(`${new URL(url).origin}/api/chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEFAULT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C0519R0WYOJ', text: 'An unrelated alert' }),
    });
    expect(((await posted.json()) as { ok: boolean }).ok).toBe(true);
    await fetched;
    await page.mouse.up();
    // Validation: the click arrived (the channel opened), and the update is shown too.
    await page.locator('a.nav-item.active[data-conversation="C07KVJ50CE9"]').waitFor();
    await page.locator('a[data-conversation="C0519R0WYOJ"]').click();
    await page.locator('article.message', { hasText: 'An unrelated alert' }).waitFor();
  }, 60_000);

  test('Ctrl-C stops the app, the sandbox and the private Redis', async () => {
    const children = await demo.children();
    expect(children.length).toBeGreaterThan(0); // the private redis-server
    const code = await demo.interrupt();
    expect(code).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(children.filter(alive)).toEqual([]);
    await expect(fetch(url)).rejects.toThrow();
  }, 30_000);
});

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { RISK_LEVELS } from '../../../src/core/gate-request.js';
import { classifyRisk } from '../../../src/core/policy/risk.js';
import { policyOf, request } from './support.js';

const policy = policyOf();
const factor = (r: ReturnType<typeof classifyRisk>, name: string) => r.factors.find((f) => f.factor === name);

describe('classifyRisk', () => {
  test('a read-only action is low risk even in production', () => {
    const risk = classifyRisk(request({ action: 'logs.query' }), policy);
    expect(risk.level).toBe('low');
    expect(factor(risk, 'environment')?.explanation).toBe('read-only in production');
  });

  test('a production change takes the risk of its environment class; staging stays low', () => {
    expect(classifyRisk(request(), policy)).toMatchObject({ level: 'high', factors: [expect.objectContaining({ factor: 'environment', level: 'high' })] });
    expect(classifyRisk(request({ environment: 'staging-eu' }), policy).level).toBe('low');
  });

  test('an environment no class matches counts as medium, not low', () => {
    const risk = classifyRisk(request({ environment: 'qa7' }), policy);
    expect(factor(risk, 'environment')).toMatchObject({ level: 'medium', explanation: expect.stringContaining('matches no environment class') });
  });

  test('privilege-amplifying actions are at least high, in any environment', () => {
    const risk = classifyRisk(request({ action: 'iam.attach_role_policy', environment: 'staging' }), policy);
    expect(factor(risk, 'privilege')).toMatchObject({ level: 'high' });
    expect(risk.level).toBe('high');
  });

  test('irreversible actions are critical in production and high elsewhere', () => {
    expect(factor(classifyRisk(request({ action: 'db.restore' }), policy), 'reversibility')?.level).toBe('critical');
    expect(factor(classifyRisk(request({ action: 'db.restore', environment: 'staging' }), policy), 'reversibility')?.level).toBe('high');
  });

  test('evidence triggers make an action irreversible and say why', () => {
    const drop = request({ action: 'db.migrate', evidence: { diff: 'ALTER TABLE orders DROP COLUMN legacy;' } });
    const add = request({ action: 'db.migrate', evidence: { diff: 'ALTER TABLE orders ADD COLUMN v2 text;' } });
    expect(factor(classifyRisk(drop, policy), 'reversibility')).toMatchObject({ level: 'critical', explanation: 'db.migrate cannot be undone (drops a column)' });
    expect(factor(classifyRisk(add, policy), 'reversibility')?.level).toBe('medium');
  });

  test('asset criticality and data classes come from the matched assets', () => {
    const risk = classifyRisk(request({ action: 'db.migrate', resources: [{ type: 'postgres.table', id: 'shop/orders' }] }), policy);
    expect(factor(risk, 'asset-criticality')).toMatchObject({ level: 'high', explanation: expect.stringContaining('orders') });
    expect(factor(risk, 'data-sensitivity')).toMatchObject({ level: 'high', explanation: 'touches financial data' });
  });

  test('sensitive data moving across regions is critical', () => {
    const risk = classifyRisk(
      request({
        action: 'data.export',
        resources: [
          { type: 'postgres.table', id: 'shop/orders' },
          { type: 's3.bucket', id: 's3://us-scratch/x' },
        ],
      }),
      policy,
    );
    expect(factor(risk, 'data-residency')).toMatchObject({ level: 'critical', explanation: expect.stringContaining('eu → us') });
    expect(risk.level).toBe('critical');
  });

  test('a data class the agent declares raises sensitivity, and cannot hide the class the policy knows', () => {
    const declaredPii = classifyRisk(request({ resources: [{ type: 'k8s.deployment', id: 'x', attributes: { dataClass: 'pii' } }] }), policy);
    expect(factor(declaredPii, 'data-sensitivity')?.level).toBe('high');
    const declaredPublic = classifyRisk(
      request({ action: 'db.migrate', resources: [{ type: 'postgres.table', id: 'shop/orders', attributes: { dataClass: 'public' } }] }),
      policy,
    );
    expect(factor(declaredPublic, 'data-sensitivity')?.level).toBe('high');
    // A class the policy does not know is not trusted to be harmless.
    const unknownClass = classifyRisk(request({ resources: [{ type: 'k8s.deployment', id: 'x', attributes: { dataClass: 'pci' } }] }), policy);
    expect(factor(unknownClass, 'data-sensitivity')?.level).toBe('medium');
  });

  test('blast radius grows with resources and downstream actions', () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ type: 'k8s.deployment', id: `prod/app-${i}` }));
    expect(factor(classifyRisk(request({ environment: 'staging', resources: many }), policy), 'blast-radius')?.level).toBe('high');
    const fanOut = request({ environment: 'staging', downstream: [{ action: 'hook.fire' }, { action: 'hook.fire' }] });
    expect(factor(classifyRisk(fanOut, policy), 'blast-radius')).toMatchObject({ level: 'medium', explanation: '1 resource(s) and 2 downstream action(s)' });
  });

  test('an action missing from the catalog is high risk', () => {
    expect(factor(classifyRisk(request({ action: 'cdn.purge', environment: 'staging' }), policy), 'unknown-action')?.level).toBe('high');
  });

  test('a declared risk raises the level but never lowers it', () => {
    expect(classifyRisk(request({ action: 'logs.query', declaredRisk: 'high' }), policy)).toMatchObject({
      level: 'high',
      factors: expect.arrayContaining([{ factor: 'declared', level: 'high', explanation: 'the agent declared high risk' }]),
    });
    fc.assert(
      fc.property(fc.constantFrom(...RISK_LEVELS), fc.constantFrom('logs.query', 'app.deploy', 'db.restore', 'iam.x', 'nope.x'), (declared, action) => {
        const computed = classifyRisk(request({ action }), policy).level;
        const withDeclared = classifyRisk(request({ action, declaredRisk: declared }), policy).level;
        const rank = (l: string) => RISK_LEVELS.indexOf(l as never);
        expect(rank(withDeclared)).toBe(Math.max(rank(computed), rank(declared)));
      }),
    );
  });
});

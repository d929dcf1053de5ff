import { describe, expect, test } from '@jest/globals';
import { AgentNetworks } from '../../src/core/agent-networks.js';
import { agentUrlProblem } from '../../src/core/gate-request.js';

/** The networks a setting names; the test fails on a setting that does not parse. */
function networks(setting: string): AgentNetworks {
  const parsed = AgentNetworks.parse(setting);
  if (!('networks' in parsed)) throw new Error(`"${setting}" did not parse: ${parsed.problems.join('; ')}`);
  return parsed.networks;
}

describe('agent URLs at intake', () => {
  const loopback = networks('loopback');

  test.each([
    ['https://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is a link-local address/],
    ['https://10.0.0.5/cb', /10\.0\.0\.5 is a private address/],
    ['https://[fd00::1]/cb', /fd00::1 is a private address/],
    ['https://[::ffff:127.0.0.1]/cb', /::ffff:7f00:1 \(127\.0\.0\.1\) is a loopback address/],
    ['http://2130706433/cb', /127\.0\.0\.1 is a loopback address/],
    ['http://127.0.0.1:8080/cb', /127\.0\.0\.1 is a loopback address/],
    ['http://localhost:8080/cb', /localhost is a loopback host/],
    ['https://localhost/cb', /localhost is a loopback host/],
    ['http://agent.example.com/cb', /plain http is only for loopback hosts/],
    ['ftp://agent.example.com/cb', /must be an https URL/],
    ['https://user:pw@agent.example.com/cb', /no user name or password/],
    ['not a url', /not a URL/],
  ])('by default %s is refused', (url, problem) => {
    const found = agentUrlProblem(url, AgentNetworks.publicOnly);
    expect(found).toMatch(/^must be an https URL to a public address \(COUNTERSIGN_AGENT_NETWORKS allows others\)/);
    expect(found).toMatch(problem);
  });

  test('public addresses and names pass (names are checked when called)', () => {
    for (const url of ['https://agent.example.com/cb', 'https://8.8.8.8/cb', 'https://[2606:4700::1111]/cb']) {
      expect(agentUrlProblem(url, AgentNetworks.publicOnly)).toBeUndefined();
    }
  });

  test('with loopback allowed, http to a loopback host passes, and http anywhere else still does not', () => {
    for (const url of ['http://127.0.0.1:8080/cb', 'http://localhost:8080/cb', 'http://[::1]:8080/cb', 'http://2130706433/cb', 'https://127.0.0.2/cb']) {
      expect(agentUrlProblem(url, loopback)).toBeUndefined();
    }
    expect(agentUrlProblem('http://agent.example.com/cb', loopback)).toMatch(/plain http is only for loopback hosts/);
    expect(agentUrlProblem('https://169.254.169.254/x', loopback)).toMatch(/link-local/);
    expect(agentUrlProblem('http://10.0.0.5/cb', networks('private'))).toMatch(/plain http is only for loopback hosts/);
    expect(agentUrlProblem('https://10.0.0.5/cb', networks('private'))).toBeUndefined();
  });
});

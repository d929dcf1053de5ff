import { describe, expect, test } from '@jest/globals';
import { AgentNetworks, carriedIpv4, type AddressCategory } from '../../src/core/agent-networks.js';

/** The networks a setting names; the test fails on a setting that does not parse. */
function networks(setting: string): AgentNetworks {
  const parsed = AgentNetworks.parse(setting);
  if (!('networks' in parsed)) throw new Error(`"${setting}" did not parse: ${parsed.problems.join('; ')}`);
  return parsed.networks;
}

const allowed = (n: AgentNetworks, address: string) => n.check(address).allowed;

describe('the address classifier', () => {
  // address, category, allowed by default, with `loopback`, with `private`, with `loopback,private`
  const TABLE: Array<[string, AddressCategory, boolean, boolean, boolean, boolean]> = [
    ['127.0.0.1', 'loopback', false, true, false, true],
    ['127.1.2.3', 'loopback', false, true, false, true],
    ['::1', 'loopback', false, true, false, true],
    ['::ffff:127.0.0.1', 'loopback', false, true, false, true],
    ['::ffff:7f00:1', 'loopback', false, true, false, true],
    ['10.0.0.5', 'private', false, false, true, true],
    ['172.16.0.1', 'private', false, false, true, true],
    ['172.31.255.254', 'private', false, false, true, true],
    ['192.168.1.1', 'private', false, false, true, true],
    ['fd00::1', 'private', false, false, true, true],
    ['::ffff:10.0.0.5', 'private', false, false, true, true],
    ['169.254.169.254', 'link-local', false, false, false, false],
    ['fe80::1', 'link-local', false, false, false, false],
    ['fe80::1%eth0', 'link-local', false, false, false, false],
    ['::ffff:169.254.169.254', 'link-local', false, false, false, false],
    ['0.0.0.0', 'unspecified', false, false, false, false],
    ['0.1.2.3', 'unspecified', false, false, false, false],
    ['::', 'unspecified', false, false, false, false],
    ['224.0.0.1', 'multicast', false, false, false, false],
    ['ff02::1', 'multicast', false, false, false, false],
    ['255.255.255.255', 'broadcast', false, false, false, false],
    ['100.64.0.1', 'shared', false, false, false, false],
    ['100.100.100.200', 'shared', false, false, false, false],
    ['192.0.2.10', 'reserved', false, false, false, false],
    ['240.0.0.1', 'reserved', false, false, false, false],
    ['2001:db8::1', 'reserved', false, false, false, false],
    ['::1.2.3.4', 'reserved', false, false, false, false],
    ['64:ff9b::a00:5', 'private', false, false, true, true],
    ['2002:7f00:1::1', 'loopback', false, true, false, true],
    ['8.8.8.8', 'public', true, true, true, true],
    ['172.32.0.1', 'public', true, true, true, true],
    ['2606:4700::1111', 'public', true, true, true, true],
    ['64:ff9b::808:808', 'public', true, true, true, true],
  ];

  test.each(TABLE)('%s is %s', (address, category, byDefault, withLoopback, withPrivate, withBoth) => {
    expect(AgentNetworks.publicOnly.check(address)).toMatchObject({ address, category, allowed: byDefault });
    expect(allowed(networks('loopback'), address)).toBe(withLoopback);
    expect(allowed(networks('private'), address)).toBe(withPrivate);
    expect(allowed(networks('loopback, private'), address)).toBe(withBoth);
  });

  test('IPv6 forms that reach an IPv4 host are judged as the address they carry', () => {
    expect(carriedIpv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(carriedIpv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(carriedIpv4('2002:a00:5::1')).toBe('10.0.0.5');
    expect(carriedIpv4('2606:4700::1111')).toBeUndefined();
    expect(AgentNetworks.publicOnly.check('::ffff:7f00:1')).toEqual({ allowed: false, address: '::ffff:7f00:1', category: 'loopback', carried: '127.0.0.1' });
    // An IPv4 CIDR covers them too; an IPv6 CIDR never reaches past them to IPv4 space.
    expect(allowed(networks('10.0.0.0/8'), '::ffff:10.1.1.1')).toBe(true);
    expect(allowed(networks('::/0'), '::ffff:10.1.1.1')).toBe(false);
    expect(allowed(networks('::/0'), '10.1.1.1')).toBe(false);
  });

  test('anything that is not an IP address is refused', () => {
    expect(AgentNetworks.publicOnly.check('localhost').allowed).toBe(false);
    expect(AgentNetworks.publicOnly.check('').allowed).toBe(false);
  });
});

describe('the setting', () => {
  test('a CIDR allows the addresses it covers, and no others', () => {
    const n = networks('10.1.0.0/16, fd12:3456::/32, 100.64.0.0/10, 192.168.7.7');
    expect(allowed(n, '10.1.200.3')).toBe(true);
    expect(allowed(n, '10.2.0.1')).toBe(false);
    expect(allowed(n, 'fd12:3456::9')).toBe(true);
    expect(allowed(n, 'fd00::1')).toBe(false);
    expect(allowed(n, '100.64.0.1')).toBe(true);
    expect(allowed(n, '192.168.7.7')).toBe(true);
    expect(allowed(n, '192.168.7.8')).toBe(false);
    expect(allowed(n, '127.0.0.1')).toBe(false);
  });

  test('link-local, unspecified, multicast and broadcast need a CIDR inside their range: a broad one does not open them', () => {
    const broad = networks('0.0.0.0/0, ::/0');
    expect(allowed(broad, '10.0.0.5')).toBe(true);
    expect(allowed(broad, '127.0.0.1')).toBe(true);
    for (const address of ['169.254.169.254', '0.0.0.0', '224.0.0.1', '255.255.255.255', 'fe80::1', '::', 'ff02::1']) {
      expect(allowed(broad, address)).toBe(false);
    }
    const metadata = networks('169.254.169.254/32, fe80::/10');
    expect(allowed(metadata, '169.254.169.254')).toBe(true);
    expect(allowed(metadata, '169.254.169.253')).toBe(false);
    expect(allowed(metadata, 'fe80::1')).toBe(true);
  });

  test('keywords are case-insensitive, repeats and empty items are ignored, and it describes itself for the logs', () => {
    expect(networks(' Loopback ,, loopback, 10.0.0.0/8 ,').describe()).toBe('public addresses, loopback, 10.0.0.0/8');
    expect(AgentNetworks.publicOnly.describe()).toBe('public addresses');
  });

  test.each([
    ['public', /neither a keyword \(loopback, private\) nor a CIDR/],
    ['link-local', /neither a keyword/],
    ['10.0.0.0/33', /prefix longer than 32 bits/],
    ['10.0.0.0/8/8', /neither a keyword/],
    ['010.0.0.1', /neither a keyword/],
    ['10.0.0.5/8', /bits set past its prefix: write 10\.0\.0\.0\/8 for the network, or 10\.0\.0\.5\/32 for one address/],
    ['fd00::1/8', /write fd00::\/8 for the network/],
    ['::ffff:10.0.0.0/104', /judged as IPv4: write the IPv4 network/],
  ])('refuses %j', (setting, problem) => {
    const parsed = AgentNetworks.parse(setting);
    expect('problems' in parsed ? parsed.problems.join('\n') : 'accepted').toMatch(problem);
  });
});

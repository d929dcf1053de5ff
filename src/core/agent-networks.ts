// node:net for address parsing and matching only (isIP, BlockList): nothing here opens a socket.
import { BlockList, isIP } from 'node:net';

/**
 * Which addresses Countersign may connect to when it calls an agent back (`callbackUrl`,
 * `revalidateUrl`). Agents choose those URLs, so without a rule a compromised agent could make
 * Countersign POST to its own loopback services, to the cloud metadata endpoint or into the
 * private network. Public unicast addresses are always allowed; a deployment names the
 * non-public networks its agents live on (`COUNTERSIGN_AGENT_NETWORKS`).
 */

/** What kind of address an IP address is, for the allow rule and for messages. */
export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

/** The keywords of the setting, each allowing one category. */
/** True when the text is an IPv4 or IPv6 address (no brackets), not a host name. */
export function isIpAddress(text: string): boolean {
  return isIP(text) !== 0;
}

export const NETWORK_KEYWORDS = ['loopback', 'private'] as const;
export type NetworkKeyword = (typeof NETWORK_KEYWORDS)[number];

/**
 * Categories a keyword can never allow: only a CIDR that lies inside their range does
 * (`169.254.169.254/32`), so that a broad CIDR such as `0.0.0.0/0` does not open the cloud
 * metadata endpoint by accident.
 */
const EXPLICIT_ONLY = new Set<AddressCategory>(['unspecified', 'link-local', 'multicast', 'broadcast']);

/** How messages name each category. */
export const CATEGORY_TEXT: Record<AddressCategory, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private address',
  shared: 'a carrier-grade NAT address (100.64.0.0/10)',
  'link-local': 'a link-local address (where cloud metadata services answer)',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved or special-purpose address',
};

type Family = 'ipv4' | 'ipv6';

interface Range {
  family: Family;
  prefix: number;
  category: AddressCategory;
  list: BlockList;
}

function range(cidr: string, category: AddressCategory): Range {
  const [net, bits] = cidr.split('/') as [string, string];
  const family: Family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  list.addSubnet(net, Number(bits), family);
  return { family, prefix: Number(bits), category, list };
}

/** Special-purpose ranges (RFC 6890 and successors), most specific first. Anything else is public (IPv6: inside 2000::/3). */
const RANGES: Range[] = [
  range('0.0.0.0/8', 'unspecified'),
  range('127.0.0.0/8', 'loopback'),
  range('10.0.0.0/8', 'private'),
  range('172.16.0.0/12', 'private'),
  range('192.168.0.0/16', 'private'),
  range('100.64.0.0/10', 'shared'),
  range('169.254.0.0/16', 'link-local'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'),
  range('192.0.0.0/24', 'reserved'),
  range('192.0.2.0/24', 'reserved'),
  range('192.88.99.0/24', 'reserved'),
  range('198.18.0.0/15', 'reserved'),
  range('198.51.100.0/24', 'reserved'),
  range('203.0.113.0/24', 'reserved'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('fc00::/7', 'private'),
  range('fe80::/10', 'link-local'),
  range('ff00::/8', 'multicast'),
  range('2001::/23', 'reserved'),
  range('2001:db8::/32', 'reserved'),
  range('3fff::/20', 'reserved'),
  range('100::/64', 'reserved'),
];
const GLOBAL_UNICAST_V6 = range('2000::/3', 'public');

/** The eight 16-bit words of a valid IPv6 address (a dotted IPv4 tail is allowed). */
function ipv6Words(address: string): number[] {
  let text = address;
  if (text.includes('.')) {
    const cut = text.lastIndexOf(':') + 1;
    const b = text.slice(cut).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, cut)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = groups(head);
  if (tail === undefined) return front;
  const back = groups(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

const dotted = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/**
 * The IPv4 address an IPv6 address stands for, when it is one of the forms that reach an IPv4
 * host: IPv4-mapped (`::ffff:127.0.0.1`), the NAT64 well-known prefix (`64:ff9b::/96`) and
 * 6to4 (`2002::/16`). Such an address is judged as the IPv4 address it carries.
 */
export function carriedIpv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const w = ipv6Words(address) as [number, number, number, number, number, number, number, number];
  const zeros = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && w[5] === 0xffff) return dotted(w[6], w[7]);
  if (w[0] === 0x64 && w[1] === 0xff9b && zeros(2, 6)) return dotted(w[6], w[7]);
  if (w[0] === 0x2002) return dotted(w[1], w[2]);
  return undefined;
}

/** The category of an IP address as such (an IPv6 form carrying an IPv4 address is not unwrapped here). */
function categoryOf(address: string, family: Family): AddressCategory {
  const found = RANGES.find((r) => r.family === family && r.list.check(address, family));
  if (found) return found.category;
  if (family === 'ipv4') return 'public';
  return GLOBAL_UNICAST_V6.list.check(address, 'ipv6') ? 'public' : 'reserved';
}

/** What {@link AgentNetworks.check} found about one address. */
export interface AddressVerdict {
  allowed: boolean;
  /** The address as given. */
  address: string;
  category: AddressCategory;
  /** The IPv4 address an IPv6 form (mapped, NAT64, 6to4) carries; the verdict is about it. */
  carried?: string;
}

/** `::ffff:7f00:1 (127.0.0.1)`, or just the address. */
export function describeAddress(verdict: Pick<AddressVerdict, 'address' | 'carried'>): string {
  return verdict.carried ? `${verdict.address} (${verdict.carried})` : verdict.address;
}

const withoutZone = (address: string) => address.replace(/%.*$/, '');

/** Where a CIDR of the setting goes: one inside an explicit-only range allows that range's addresses. */
interface Cidr {
  text: string;
  family: Family;
  explicitOnly: boolean;
}

/**
 * The networks agent URLs may reach: public unicast addresses always, plus the keywords and
 * CIDRs of the setting. Immutable; built by {@link AgentNetworks.parse}.
 */
export class AgentNetworks {
  /** The default: public unicast addresses only. */
  static readonly publicOnly = new AgentNetworks([], []);
  /** Public addresses and loopback: local trial runs, whose agents run on the same machine. */
  static readonly publicAndLoopback = new AgentNetworks(['loopback'], []);

  private readonly keywords: ReadonlySet<NetworkKeyword>;
  /** CIDRs by family, kept apart: BlockList lets IPv4 rules match IPv4-mapped IPv6 and back. */
  private readonly lists: Record<Family, { ordinary: BlockList; explicit: BlockList }>;

  private constructor(
    keywords: readonly NetworkKeyword[],
    private readonly cidrs: readonly Cidr[],
  ) {
    this.keywords = new Set(keywords);
    this.lists = {
      ipv4: { ordinary: new BlockList(), explicit: new BlockList() },
      ipv6: { ordinary: new BlockList(), explicit: new BlockList() },
    };
    for (const cidr of cidrs) {
      const [net, bits] = cidr.text.split('/') as [string, string];
      const lists = this.lists[cidr.family];
      (cidr.explicitOnly ? lists.explicit : lists.ordinary).addSubnet(net, Number(bits), cidr.family);
    }
  }

  /**
   * Parses the setting: comma-separated keywords (`loopback`: 127.0.0.0/8 and ::1; `private`:
   * 10/8, 172.16/12, 192.168/16 and fc00::/7) and CIDRs (IPv4 or IPv6; a bare address is one
   * host). Returns every problem at once.
   */
  static parse(text: string): { networks: AgentNetworks } | { problems: string[] } {
    const keywords: NetworkKeyword[] = [];
    const cidrs: Cidr[] = [];
    const problems: string[] = [];
    for (const raw of text.split(',')) {
      const item = raw.trim();
      if (item === '') continue;
      const keyword = NETWORK_KEYWORDS.find((k) => k === item.toLowerCase());
      if (keyword) {
        if (!keywords.includes(keyword)) keywords.push(keyword);
        continue;
      }
      const cidr = parseCidr(item);
      if (typeof cidr === 'string') problems.push(cidr);
      else cidrs.push(cidr);
    }
    if (problems.length > 0) return { problems };
    return { networks: keywords.length === 0 && cidrs.length === 0 ? AgentNetworks.publicOnly : new AgentNetworks(keywords, cidrs) };
  }

  /** Whether Countersign may connect to `address` (an IP address; anything else is refused). */
  check(address: string): AddressVerdict {
    const plain = withoutZone(address);
    const version = isIP(plain);
    if (version === 0) return { allowed: false, address, category: 'reserved' };
    const carried = carriedIpv4(plain);
    if (carried) return { ...this.check(carried), address, carried };
    const family: Family = version === 4 ? 'ipv4' : 'ipv6';
    const category = categoryOf(plain, family);
    const lists = this.lists[family];
    const allowed = EXPLICIT_ONLY.has(category)
      ? lists.explicit.check(plain, family)
      : category === 'public' || this.keywords.has(category as NetworkKeyword) || lists.ordinary.check(plain, family);
    return { allowed, address, category };
  }

  /** True when `address` is allowed and is a loopback address (plain http is only for those). */
  allowsLoopback(address: string): boolean {
    const verdict = this.check(address);
    return verdict.allowed && verdict.category === 'loopback';
  }

  /** For logs: `public addresses, loopback, 10.0.0.0/8`. */
  describe(): string {
    return ['public addresses', ...NETWORK_KEYWORDS.filter((k) => this.keywords.has(k)), ...this.cidrs.map((c) => c.text)].join(', ');
  }
}

/** The bytes of a valid IP address (4 or 16). */
function addressBytes(address: string, family: Family): number[] {
  if (family === 'ipv4') return address.split('.').map(Number);
  return ipv6Words(address).flatMap((w) => [w >> 8, w & 0xff]);
}

function formatNetwork(bytes: number[], family: Family): string {
  if (family === 'ipv4') return bytes.join('.');
  const words = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The compressed form, as URL and dns print it.
  return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1);
}

/** The bytes with every bit past `prefix` cleared. */
function networkOf(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
}

/** One item of the setting as a CIDR, or the problem with it. */
function parseCidr(item: string): Cidr | string {
  const [address = '', bits, extra] = item.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
    return `"${item}" is neither a keyword (${NETWORK_KEYWORDS.join(', ')}) nor a CIDR such as 10.0.0.0/8 or fd00::/8`;
  }
  const family: Family = version === 4 ? 'ipv4' : 'ipv6';
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return `"${item}" has a prefix longer than ${max} bits`;
  const bytes = addressBytes(address, family);
  const network = networkOf(bytes, prefix);
  if (network.some((b, i) => b !== bytes[i])) {
    return `"${item}" has bits set past its prefix: write ${formatNetwork(network, family)}/${prefix} for the network, or ${address}/${max} for one address`;
  }
  if (family === 'ipv6' && carriedIpv4(address) !== undefined && prefix >= (ipv6Words(address)[0] === 0x2002 ? 16 : 96)) {
    return `"${item}" is an IPv6 form of IPv4 addresses, which are judged as IPv4: write the IPv4 network instead`;
  }
  const inside = RANGES.find((r) => r.family === family && EXPLICIT_ONLY.has(r.category) && r.list.check(address, family));
  return { text: `${address}/${prefix}`, family, explicitOnly: inside !== undefined && prefix >= inside.prefix };
}

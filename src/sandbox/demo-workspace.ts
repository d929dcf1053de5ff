import type { SandboxChannel, SandboxUser, SandboxUsergroup } from './slack-workspace.js';

/**
 * The Slack workspace behind the default policy set: the people, user groups and channels that
 * policies/reviewers.yaml and policies/agents.yaml name, plus the requesters of the examples.
 * The sandbox shows it, and the tests run against it.
 */
export const DEMO_USERS: SandboxUser[] = [
  { id: 'U04LJOOA5LQ', name: 'marta', realName: 'Marta Kowalski', email: 'marta.kowalski@example.com', team: 'platform' },
  { id: 'U06AJ08XUI6', name: 'jonas', realName: 'Jonas Berg', email: 'jonas.berg@example.com', team: 'platform' },
  { id: 'U02PLATF0RM', name: 'aiko', realName: 'Aiko Tanaka', email: 'aiko.tanaka@example.com', team: 'platform' },
  { id: 'U0439ZZZZG4', name: 'grace', realName: 'Grace Lee', email: 'grace.lee@example.com', team: 'security' },
  { id: 'U07DMEN2KHV', name: 'omar', realName: 'Omar Haddad', email: 'omar.haddad@example.com', team: 'security' },
  { id: 'U04GAJ8GXBE', name: 'nina', realName: 'Nina Petrova', email: 'nina.petrova@example.com', team: 'security' },
  { id: 'U05YJQWX4HH', name: 'tomas', realName: 'Tomás Ruiz', email: 'tomas.ruiz@example.com', team: 'identity' },
  { id: 'U07344TFJGV', name: 'kenji', realName: 'Kenji Sato', email: 'kenji.sato@example.com', team: 'sre' },
  { id: 'U064K7BN7XJ', name: 'fatima', realName: 'Fatima Zahra', email: 'fatima.zahra@example.com', team: 'sre' },
  { id: 'U06MW2WXFOG', name: 'lars', realName: 'Lars Nilsson', email: 'lars.nilsson@example.com', team: 'shop' },
  { id: 'U047TFQ7XKW', name: 'chloe', realName: 'Chloé Martin', email: 'chloe.martin@example.com', team: 'data-governance' },
  { id: 'U05886VOMPZ', name: 'ravi', realName: 'Ravi Iyer', email: 'ravi.iyer@example.com', team: 'privacy' },
  { id: 'U05M75WBBR4', name: 'sofia', realName: 'Sofia Rossi', email: 'sofia.rossi@example.com', team: 'checkout' },
  { id: 'U03CHECK0UT', name: 'ben', realName: 'Ben Okoro', email: 'ben.okoro@example.com', team: 'checkout' },
  { id: 'U03PAYMENT1', name: 'elena', realName: 'Elena García', email: 'elena.garcia@example.com', team: 'payments' },
  { id: 'U03PAYMENT2', name: 'david', realName: 'David Cohen', email: 'david.cohen@example.com', team: 'payments' },
  { id: 'U03SH0PTEAM', name: 'mia', realName: 'Mia Schulz', email: 'mia.schulz@example.com', team: 'shop' },
  { id: 'U03DATASTEW', name: 'leo', realName: 'Leo Dubois', email: 'leo.dubois@example.com', team: 'data-governance' },
  // Requesters of the examples in examples/: people on whose behalf agents act.
  { id: 'U07AS1LVA01', name: 'ana', realName: 'Ana Silva', email: 'ana.silva@example.com', team: 'payments' },
  { id: 'U07PR1YANA1', name: 'priya', realName: 'Priya Nair', email: 'priya.nair@example.com', team: 'data-governance' },
  { id: 'U07SAM0KAF1', name: 'sam', realName: 'Sam Okafor', email: 'sam.okafor@example.com', team: 'identity' },
  { id: 'U07L1WE1001', name: 'li', realName: 'Li Wei', email: 'li.wei@example.com', team: 'checkout' },
];

export const DEMO_USERGROUPS: SandboxUsergroup[] = [
  { id: 'S04T75V2SEH', handle: 'platform-oncall', name: 'Platform on-call', members: ['U04LJOOA5LQ', 'U06AJ08XUI6', 'U02PLATF0RM'] },
  { id: 'S06JZDE8GXD', handle: 'platform-leads', name: 'Platform leads', members: ['U04LJOOA5LQ'] },
  { id: 'S05CF10EPF9', handle: 'checkout-owners', name: 'Checkout owners', members: ['U05M75WBBR4', 'U03CHECK0UT', 'U07L1WE1001'] },
  { id: 'S07DHODZDOC', handle: 'payments-owners', name: 'Payments owners', members: ['U03PAYMENT1', 'U03PAYMENT2', 'U07AS1LVA01'] },
  { id: 'S05S0J8HT9L', handle: 'shop-owners', name: 'Shop owners', members: ['U03SH0PTEAM', 'U06MW2WXFOG'] },
  { id: 'S04MXG9EDN5', handle: 'sre-oncall', name: 'SRE on-call', members: ['U07344TFJGV', 'U064K7BN7XJ'] },
  { id: 'S07U33XTPLP', handle: 'data-stewards', name: 'Data stewards', members: ['U047TFQ7XKW', 'U03DATASTEW', 'U07PR1YANA1'] },
];

export const DEMO_CHANNELS: SandboxChannel[] = [
  { id: 'C07KVJ50CE9', name: 'platform-approvals' },
  { id: 'C06VW53EFR4', name: 'service-owner-approvals' },
  { id: 'C04DT2SYWB3', name: 'security-approvals' },
  { id: 'C06KH5DNSIP', name: 'prod-irreversible-approvals' },
  { id: 'C07Z5FK2Z9R', name: 'data-approvals' },
  { id: 'C0519R0WYOJ', name: 'security-alerts' },
];

/** The whole seed, for `startSlackWebApi({ ...DEMO_WORKSPACE })`. */
export const DEMO_WORKSPACE = { users: DEMO_USERS, usergroups: DEMO_USERGROUPS, channels: DEMO_CHANNELS };

/** A demo user by short name (`grace`) — for tests and the sandbox's "act as" picker. */
export function demoUser(name: string): SandboxUser {
  const user = DEMO_USERS.find((u) => u.name === name);
  if (!user) throw new Error(`no demo user ${name}`);
  return user;
}

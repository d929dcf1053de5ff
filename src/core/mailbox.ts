/**
 * The mailbox an email address delivers to, for telling whether two addresses are one person:
 * lowercase, without a `+tag` in the local part (`ana.silva+deploybot@example.com` is
 * `ana.silva@example.com`; Google Workspace, Microsoft 365 and most mail hosts deliver both to
 * one inbox). A requester named by such an alias must not be able to approve as herself.
 */
export function mailboxOf(email: string): string {
  const lower = email.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at <= 0) return lower;
  const local = lower.slice(0, at);
  const plus = local.indexOf('+');
  return plus > 0 ? `${local.slice(0, plus)}${lower.slice(at)}` : lower;
}

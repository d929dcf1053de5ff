/**
 * Waits for `work` at most `ms`: true when it settled (resolved or rejected) in time, false
 * when the time ran out first. The work is not cancelled, and a rejection that comes later is
 * dropped. Shutdown uses it: with Redis not answering (paused, partitioned), a `quit()` or a
 * BullMQ close waits for a reply that does not come, and a process told to stop must stop.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = work.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends a connection politely within `ms`, else drops it. */
export async function quitWithin(connection: { quit(): Promise<unknown>; disconnect(): void }, ms: number): Promise<void> {
  if (!(await settleWithin(connection.quit(), ms))) connection.disconnect();
}

import { existsSync } from 'node:fs';

/** Debian's chromium (apt-get install chromium), or CHROMIUM_PATH. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p));
}

/** CI sets COUNTERSIGN_REQUIRE_BROWSER=1 so that a missing browser fails instead of skipping. */
export const BROWSER_REQUIRED = process.env.COUNTERSIGN_REQUIRE_BROWSER === '1';

/** Headless, no sandbox (containers), nothing phoning home; a fresh profile per launch. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, which .ci/run installs when it is missing. */
const CHROMIUM = '/usr/bin/chromium';

/** A headless chromium for the dashboard tests; says how to install it when it is missing. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `the dashboard tests need Debian's chromium at ${CHROMIUM}, which is missing: install it with ` +
        '`apt-get install -y chromium` (as root; .ci/run does this when it is missing)',
    );
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { DEFAULT_OPTIONS, LocalPipeline } from '../../local/pipeline';
import exampleViews from '../../views';
import { launchChromium } from './chromium';

/**
 * The dashboard of `npm start -- --architecture kappa` in a real browser: with no speed or batch
 * layer, their tiles say so (not "no version yet", as if a batch run were pending), the "run batch
 * now" button (a route this architecture does not serve) is hidden, and the series is drawn from
 * the Kappa version with its handoff line.
 */
const KAPPA_ONLY = 'none: the Kappa architecture runs alone (its processor is below)';

let pipeline: LocalPipeline;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const shown = await Promise.all(
        ['#api-state', '#architecture', '#series-title', '#batch', '#speed-lag'].map(
          async (selector) => `${selector}: ${await page.locator(selector).textContent()}`,
        ),
      );
      throw new Error(`no ${what} on the page after ${timeoutMs} ms; it showed ${shown.join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  pipeline = new LocalPipeline({
    ...DEFAULT_OPTIONS,
    views: validateViews(exampleViews),
    architecture: 'kappa',
    dataDir: null,
    port: 0,
    generator: true,
    generatorRate: 8,
  });
  await pipeline.start();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
});

describe('the dashboard with the Kappa architecture alone', () => {
  it('says the speed and batch layers are not running, hides "run batch now", and draws the Kappa series', async () => {
    await page.goto(pipeline.url + '/');
    await waitFor(
      async () => (await page.locator('#architecture').textContent()) === 'kappa',
      'architecture "kappa" in the header',
    );
    await waitFor(
      async () => (await page.locator('#batch').textContent()) === KAPPA_ONLY,
      'Kappa-only batch tile',
    );
    expect(await page.locator('#speed-lag').textContent()).toBe(KAPPA_ONLY);
    expect(await page.locator('#batch-now').isVisible()).toBe(false);
    expect(await page.locator('#kappa-panel').isVisible()).toBe(true);
    // The series comes from the Kappa version: its line is the handoff, not a batch cutoff.
    await waitFor(async () => (await page.locator('#key-list button').count()) > 0, 'a key list');
    await waitFor(
      async () => /kappa version \d+/.test((await page.locator('#series-title').textContent()) ?? ''),
      'a series served by a Kappa version',
    );
    expect(await page.locator('#line-label').textContent()).toBe('handoff (live processor from here)');
    expect(await page.locator('body').getAttribute('data-api-state')).toBe('live');
    expect(pageErrors).toEqual([]);
  }, 240_000);
});

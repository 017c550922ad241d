import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { DEFAULT_OPTIONS, LocalPipeline } from '../../local/pipeline';
import exampleViews from '../../views';
import { launchChromium } from './chromium';
import { waitForArchivedBefore } from './wait';

/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), loaded from the
 * embedded stack while the generator's events flow: the series of a key with its batch part and
 * its speed part drawn, the cutoff line moving when a batch run publishes, and an error state
 * (not a blank page) once the API is gone.
 */
const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');
// The colours of style.css (--batch, --speed): the parts must be drawn in these.
const BATCH_RGB = [0x2b, 0x6c, 0xb0];
const SPEED_RGB = [0xdd, 0x6b, 0x20];

let pipeline: LocalPipeline;
let browser: Browser;
let page: Page;
let stopped = false;
let firstCutoffMs: number;
/** Uncaught errors in the page's scripts: there must be none. */
const pageErrors: string[] = [];

// The browser's types, as far as these checks use them (the project compiles without the DOM lib).
interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
  };
}

/** Pixels of the chart's canvas close to `rgb`. */
function countPixels(rgb: number[]): Promise<number> {
  return page.locator('#chart canvas').evaluate((node, target) => {
    const canvas = node as unknown as CanvasLike;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const d =
        Math.abs(data[i] - target[0]) + Math.abs(data[i + 1] - target[1]) + Math.abs(data[i + 2] - target[2]);
      if (d < 30 && data[i + 3] > 200) n++;
    }
    return n;
  }, rgb);
}

/**
 * Waits until `check` holds; otherwise fails naming what was awaited and what the page showed
 * (the header's API state, the key count, the series title). Generous: the machine is shared.
 */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const shown = await Promise.all(
        ['#api-state', '#key-count', '#series-title', '#action-result'].map(
          async (selector) => `${selector}: ${await page.locator(selector).textContent()}`,
        ),
      );
      throw new Error(`no ${what} on the page after ${timeoutMs} ms; it showed ${shown.join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The chart's data-* attributes: what it drew and where the vertical line is. */
async function chartData(): Promise<Record<string, string | undefined>> {
  return page
    .locator('#chart')
    .evaluate((node) => ({ ...(node as unknown as { dataset: Record<string, string> }).dataset }));
}

beforeAll(async () => {
  pipeline = new LocalPipeline({
    ...DEFAULT_OPTIONS,
    views: validateViews(exampleViews), // the example views and the generator's events, as `npm start` runs them
    dataDir: null,
    port: 0,
    generator: true,
    generatorRate: 8,
    batchEveryMs: 3_600_000, // batch runs only when asked: the test moves the cutoff itself
  });
  await pipeline.start();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (!stopped) await pipeline?.stop();
});

describe('the dashboard at /', () => {
  it('draws a key’s series with its batch part and its speed part, in two colours', async () => {
    // A first batch version, so part of the data is served from batch and the rest from speed:
    // once the archive holds what the generator sent so far.
    await waitForArchivedBefore(pipeline.url!, Date.now(), DEFAULT_OPTIONS.arrivalBucketMs, 90_000);
    const first = await pipeline.runBatch();
    expect(first.status).toBe('published');
    firstCutoffMs = first.cutoffMs!;

    await page.goto(pipeline.url + '/');
    await page.selectOption('#range-select', String(15 * 60_000));
    // The page picks the key with the most data by itself.
    await waitFor(async () => (await page.locator('#key-list button').count()) > 0, 'a key list');
    await waitFor(async () => Number((await chartData()).batchBuckets ?? 0) > 0, 'a batch part');
    await waitFor(async () => Number((await chartData()).speedBuckets ?? 0) > 0, 'a speed part');
    const chosen = JSON.parse(
      (await page.locator('#key-list button[aria-pressed="true"]').getAttribute('data-key'))!,
    ) as { page: string };
    expect(await page.locator('#series-title').textContent()).toContain(
      `page_views · ${chosen.page} · views`,
    );
    // Drawn on the canvas in their two colours (uPlot paints on the next animation frame).
    await waitFor(async () => (await countPixels(BATCH_RGB)) > 20, 'batch-coloured bars', 10_000);
    await waitFor(async () => (await countPixels(SPEED_RGB)) > 20, 'speed-coloured bars', 10_000);
    expect(await page.locator('body').getAttribute('data-api-state')).toBe('live');
  }, 240_000);

  it('moves the cutoff line when a batch run publishes', async () => {
    const before = await chartData();
    expect(Number(before.lineMs)).toBe(firstCutoffMs); // the line stands at the published cutoff
    // A run moves the cutoff only once the archive holds arrivals past the published one.
    await waitForArchivedBefore(pipeline.url!, firstCutoffMs, DEFAULT_OPTIONS.arrivalBucketMs, 90_000);
    await page.click('#batch-now');
    // The run answers through the page once it published (a loaded machine makes DuckDB slow).
    await waitFor(
      async () =>
        /^run batch now: \{"status":"published",.*"version":2[,}]/.test(
          (await page.locator('#action-result').textContent()) ?? '',
        ),
      'answer to "run batch now"',
      170_000,
    );
    await waitFor(
      async () => Number((await chartData()).lineMs) > Number(before.lineMs),
      'moved cutoff line',
      10_000,
    );
    const after = await chartData();
    const answer = JSON.parse(
      (await page.locator('#action-result').textContent())!.replace(/^run batch now: /, ''),
    ) as { cutoffMs: number };
    expect(Number(after.lineMs)).toBe(answer.cutoffMs);
    // Drawn where the new cutoff falls on the time axis (the axis itself slides with the clock).
    for (const d of [before, after]) {
      const share = (Number(d.lineMs) - Number(d.fromMs)) / (Number(d.toMs) - Number(d.fromMs));
      expect(Math.abs(Number(d.lineX) - share * Number(d.plotWidth))).toBeLessThan(1.5);
    }
    expect(Number(after.lineX)).not.toBe(Number(before.lineX));
    expect(await page.locator('#batch .big').textContent()).toBe('v2');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 240_000);

  it('shows an error state, not a blank page, when the API is down', async () => {
    stopped = true;
    await pipeline.stop();
    await waitFor(
      async () => (await page.locator('body').getAttribute('data-api-state')) === 'down',
      'error state',
      30_000,
    );
    expect(await page.locator('#api-state').textContent()).toMatch(/API unreachable: .*Retrying/);
    // What was shown stays on screen (dimmed), with the reason above it.
    expect(Number((await chartData()).buckets)).toBeGreaterThan(0);
    expect(await page.locator('#api-state').isVisible()).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-api-down.png'), fullPage: true });
  });
});

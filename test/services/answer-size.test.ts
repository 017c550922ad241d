import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonResponse } from '../../lambdas/adapters/codecs/api-gateway';
import { foldEvents, identityRow, type RowState } from '../../lambdas/core/measures';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import {
  boundedAnswer,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  MAX_ANSWER_BYTES,
} from '../../lambdas/services/answer-size';
import { queryKappaView } from '../../lambdas/services/kappa-query';
import {
  MAX_BUCKETS_PER_QUERY,
  queryView,
  type HttpResult,
  type QueryDeps,
} from '../../lambdas/services/query-view';
import { queryViewParts } from '../../lambdas/services/query-view-parts';
import { ServedBucketMemo } from '../../lambdas/services/served-bucket-memo';
import { InMemoryKappaCellStore, InMemoryKappaControlStore } from './in-memory-kappa';
import {
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

// A wide view: 60 sums, each served as a double of up to 17 significant digits.
const MEASURES = 60;
const [wide] = validateViews([
  {
    name: 'wide',
    eventType: 'reading',
    key: ['device'],
    granularity: '1m',
    measures: Object.fromEntries(
      Array.from({ length: MEASURES }, (_, i) => [`measure_${i}`, { kind: 'sum', field: `f${i}` }]),
    ),
  },
]);
const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();
/** Folding, merging and serializing thousands of 60-measure buckets takes 5 to 20 s on an idle 2-core machine. */
const HEAVY = 240_000;
const whole = { device: 'd-1', from: iso(T0), to: iso(T0 + MAX_BUCKETS_PER_QUERY * MIN) };

function wideState(view: ViewDefinition, seed: number): RowState {
  const event: Record<string, unknown> = { type: 'reading' };
  for (let i = 0; i < MEASURES; i++) event[`f${i}`] = (seed + i) * 1234.56789012345;
  return foldEvents(view, identityRow(view), [event]);
}

/** Bytes of the Lambda response the query function returns for `result` (what the 6 MB applies to). */
const responseBytes = (result: HttpResult) =>
  Buffer.byteLength(JSON.stringify(jsonResponse(result.status, result.body, result.json)));

interface Refusal {
  error: string;
  problems: { field: string; message: string }[];
  narrowTo: string | null;
  answerBytes: number;
}

async function lambdaDeps(buckets: number): Promise<QueryDeps> {
  const batch = new InMemoryBatchViewStore();
  await batch.writeCells(
    1,
    wide,
    Array.from({ length: buckets }, (_, i) => ({
      key: ['d-1'],
      bucketMs: T0 + i * MIN,
      state: wideState(wide, i),
    })),
  );
  const control = new InMemoryControlStore();
  control.pointer = { version: 1, cutoffMs: T0 + buckets * MIN, publishedAt: iso(T0), previous: null };
  return {
    views: [wide],
    batch,
    speed: new InMemorySpeedRowStore([wide]),
    control,
    clock: new ManualClock(T0 + buckets * MIN),
    arrivalBucketMs: MIN,
    // As a warm query function: each bucket is merged and finalized once across the pages.
    served: new ServedBucketMemo(),
  };
}

describe('GET /views answers fit in one Lambda response', () => {
  it(
    'refuses a 10,000-bucket answer of a wide view with 400 and pages it with narrowTo',
    async () => {
      // GIVEN a published version with a cell in every one of the 10,000 buckets a query may span
      const deps = await lambdaDeps(MAX_BUCKETS_PER_QUERY);
      // WHEN the whole range is asked for
      const refused = await queryView('wide', whole, deps);
      // THEN 400, naming the range that fits, not an answer the cloud could not deliver
      expect(refused.status).toBe(400);
      const body = refused.body as Refusal;
      expect(body.error).toBe('answer too large');
      expect(body.answerBytes).toBeGreaterThan(LAMBDA_RESPONSE_LIMIT_BYTES); // about 17.9 MB
      expect(body.problems[0].message).toContain(`to=${body.narrowTo}`);
      // AND following narrowTo pages the whole range, every page a 200 within the Lambda limit
      let from = whole.from;
      let buckets = 0;
      for (let page = 0; page < 10; page++) {
        let answer = await queryView('wide', { ...whole, from }, deps);
        if (answer.status === 400) {
          const to = (answer.body as Refusal).narrowTo!;
          answer = await queryView('wide', { ...whole, from, to }, deps);
          expect(answer.status).toBe(200);
          expect(responseBytes(answer)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
          // narrowTo is the largest page: one bucket more does not fit
          if (page === 0) {
            const oneMore = await queryView('wide', { ...whole, from, to: iso(Date.parse(to) + MIN) }, deps);
            expect(oneMore.status).toBe(400);
          }
          buckets += (answer.body as { buckets: unknown[] }).buckets.length;
          from = to;
          continue;
        }
        expect(answer.status).toBe(200);
        expect(responseBytes(answer)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
        buckets += (answer.body as { buckets: unknown[] }).buckets.length;
        break;
      }
      expect(buckets).toBe(MAX_BUCKETS_PER_QUERY);
    },
    HEAVY,
  );

  it(
    'bounds GET /views/{view}/parts the same way (three values per bucket)',
    async () => {
      const deps = await lambdaDeps(2_500);
      const range = { device: 'd-1', from: iso(T0), to: iso(T0 + 2_500 * MIN) };
      const plain = await queryView('wide', range, deps);
      expect(plain.status).toBe(200);
      const parts = await queryViewParts('wide', range, deps);
      expect(parts.status).toBe(400);
      const to = (parts.body as Refusal).narrowTo!;
      const page = await queryViewParts('wide', { ...range, to }, deps);
      expect(page.status).toBe(200);
      expect(responseBytes(page)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
    },
    HEAVY,
  );

  it(
    'bounds the Kappa answer of a version the same way',
    async () => {
      // GIVEN an active Kappa version holding 6,000 cells of the wide view (about 8.5 MB as a response)
      const KAPPA_BUCKETS = 6_000;
      const cells = new InMemoryKappaCellStore();
      for (let i = 0; i < KAPPA_BUCKETS; i++)
        await cells.write(
          1,
          wide,
          { view: 'wide', key: ['d-1'], bucketMs: T0 + i * MIN },
          { state: wideState(wide, i), fences: {}, chunks: [] },
          undefined,
        );
      const control = new InMemoryKappaControlStore();
      const active = {
        version: 1,
        handoffMs: T0,
        range: { fromMs: 0, toMs: null },
        definition: wide,
        replayId: 'r',
      };
      await control.write({ views: { wide: { active, previous: null, building: null } }, replay: null }, 0);
      const deps = { views: [wide], cells, control, clock: new ManualClock(T0 + KAPPA_BUCKETS * MIN) };
      const range = { device: 'd-1', from: iso(T0), to: iso(T0 + KAPPA_BUCKETS * MIN) };
      // WHEN the whole range is asked for, THEN 400 with the page that fits
      const refused = await queryKappaView('wide', range, deps);
      expect(refused.status).toBe(400);
      const to = (refused.body as Refusal).narrowTo!;
      const page = await queryKappaView('wide', { ...range, to }, deps);
      expect(page.status).toBe(200);
      expect(responseBytes(page)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
    },
    HEAVY,
  );

  it('refuses an answer of 4 MB (quotes in its JSON): 8 MB once escaped again in the Lambda response', () => {
    const buckets = Array.from({ length: 2_000 }, (_, i) => ({
      start: iso(T0 + i * MIN),
      measures: { note: '"'.repeat(1_000) },
    }));
    const answer = { view: 'wide', key: { device: 'd-1' }, buckets };
    expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThan(MAX_ANSWER_BYTES);
    const refused = boundedAnswer(answer);
    expect(refused.status).toBe(400);
    const fit = buckets.findIndex((b) => b.start === (refused.body as Refusal).narrowTo);
    const page = boundedAnswer({ ...answer, buckets: buckets.slice(0, fit) });
    expect(page.status).toBe(200);
    expect(responseBytes(page)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
    expect(responseBytes(page)).toBeGreaterThan(MAX_ANSWER_BYTES - 3_000);
  });

  it('counts the bytes as the response carries them: quotes and backslashes are escaped again', () => {
    // Any answer boundedAnswer lets through fits in the Lambda response; a refused one names the
    // largest prefix of its buckets that fits, and one bucket more would not.
    const text = fc.string({ unit: fc.constantFrom('"', '\\', 'a', 'é', '\u0001', '😀'), maxLength: 2_000 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_000 }), text, (count, filler) => {
        const buckets = Array.from({ length: count }, (_, i) => ({
          start: iso(T0 + i * MIN),
          measures: { note: filler },
        }));
        const answer = { view: 'wide', key: { device: filler }, buckets };
        const result = boundedAnswer(answer);
        if (result.status === 200) {
          expect(responseBytes(result)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
          // The text the handler sends is the answer's own JSON, serialized once.
          expect(jsonResponse(200, undefined, result.json).body).toBe(JSON.stringify(answer));
          return;
        }
        const narrowTo = (result.body as Refusal).narrowTo;
        const fit = buckets.findIndex((b) => b.start === narrowTo);
        expect(fit).toBeGreaterThan(0);
        const page = boundedAnswer({ ...answer, buckets: buckets.slice(0, fit) });
        expect(page.status).toBe(200);
        expect(responseBytes(page)).toBeLessThanOrEqual(LAMBDA_RESPONSE_LIMIT_BYTES);
        expect(boundedAnswer({ ...answer, buckets: buckets.slice(0, fit + 1) }).status).toBe(400);
      }),
      { numRuns: 40 },
    );
    expect(MAX_ANSWER_BYTES).toBeLessThan(LAMBDA_RESPONSE_LIMIT_BYTES);
  });

  it('writes the answer exactly as JSON.stringify does, from kept bucket texts or fresh ones', () => {
    const text = fc.string({ unit: 'grapheme' });
    const bucket = fc.record({
      start: text,
      measures: fc.dictionary(text, fc.option(fc.double(), { nil: null })),
    });
    fc.assert(
      fc.property(fc.dictionary(text, text), fc.array(bucket, { maxLength: 20 }), (header, buckets) => {
        // The header as the services build it: never a field named buckets.
        delete (header as Record<string, unknown>).buckets;
        const answer = { ...header, buckets };
        const expected = JSON.stringify(answer);
        expect(boundedAnswer(answer).json).toBe(expected);
        const memo = new ServedBucketMemo();
        expect(boundedAnswer(answer, memo.json).json).toBe(expected);
        expect(boundedAnswer(answer, memo.json).json).toBe(expected);
      }),
    );
  });
});

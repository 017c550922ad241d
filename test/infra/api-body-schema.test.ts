import { describe, expect, it } from 'vitest';
import * as fc from 'fast-check';
import { ingestEvents } from '../../lambdas/services/ingest-events';
import { parseReplayRequest } from '../../lambdas/adapters/codecs/replay-request';
import { matchesDraft4 } from '../fixtures/json-schema-draft4';
import { synthKappa } from './kappa-fixture';
import { InMemoryEventStream, ManualClock } from '../services/in-memory-stores';
import { FIXTURE_VIEWS, synth } from './stack-fixture';

// Accepted means served, and the same locally and in the cloud: API Gateway validates POST /events
// against the model before the ingest function runs, the local gateway does not. So every body the
// function accepts (202) must match the model; the model may refuse only what the function refuses
// too (both answer 400).

// The views the synthesized stacks are built with: the model and the function see the same ones.
const views = FIXTURE_VIEWS;

async function accepted(body: unknown): Promise<boolean> {
  const result = await ingestEvents(JSON.stringify(body), {
    views,
    stream: new InMemoryEventStream(),
    clock: new ManualClock(Date.UTC(2026, 0, 31, 12)),
    maxBodyBytes: 3_000_000,
    sleep: async () => undefined,
  });
  return result.status === 202;
}

describe('the POST /events model refuses nothing the ingest function accepts', () => {
  const template = synth().template();
  const models = Object.values(template.findResources('AWS::ApiGateway::Model')) as {
    Properties: { Name?: string; Schema: Record<string, unknown> };
  }[];
  const schema = models.find((m) => JSON.stringify(m.Properties.Schema).includes('StreamfoldEvents'))!
    .Properties.Schema;
  const click = { type: 'page.view', time: '2026-01-31T11:59:00Z', page: '/home', userId: 'u1' };

  it.each([
    ['one flat event', click],
    ['time as epoch ms', { ...click, time: 1769860740000 }],
    ['a batch', { events: [click, { ...click, page: '/b' }] }],
    [
      'a CloudEvents event',
      { specversion: '1.0', type: 'page.view', time: click.time, id: 'e1', data: { page: '/c' } },
    ],
    // A flat event's own field named `events`: one event, not a batch (ingest-events.ts), so the
    // body matches both the batch and the single-event shapes: `oneOf` would refuse it.
    ['a flat event with a field named events', { ...click, events: [click] }],
    // `data` is the CloudEvents payload only with `specversion`; in a flat event it is any field.
    ['a flat event with a field named data holding text', { ...click, data: 'plain text' }],
    ['a flat event with a field named data holding a number', { ...click, data: 5 }],
  ])('%s: accepted by the function and by the model', async (_name, body) => {
    expect(await accepted(body)).toBe(true);
    expect(matchesDraft4(schema, body)).toBe(true);
  });

  it('holds for random flat events whose fields take the names the model knows', async () => {
    const names = fc.constantFrom('events', 'data', 'page', 'specversion', 'source', 'n');
    const values = fc.oneof(
      fc.string({ maxLength: 5 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.constant(click), { maxLength: 2 }),
      fc.constant({ page: '/x' }),
    );
    await fc.assert(
      fc.asyncProperty(fc.dictionary(names, values, { maxKeys: 4 }), async (extra) => {
        const body = { ...extra, ...click };
        if (await accepted(body)) expect(matchesDraft4(schema, body)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('still refuses at the door what the function refuses (no type; 501 events)', async () => {
    for (const body of [
      { time: click.time, page: '/x' },
      { events: Array.from({ length: 501 }, () => click) },
    ]) {
      expect(await accepted(body)).toBe(false);
      expect(matchesDraft4(schema, body)).toBe(false);
    }
  });
});

describe('the POST /admin/replay model takes exactly the bodies the admin function takes', () => {
  const models = Object.values(synthKappa().template().findResources('AWS::ApiGateway::Model')) as {
    Properties: { Schema: Record<string, unknown> };
  }[];
  const schema = models.find((m) => m.Properties.Schema.title === 'StreamfoldReplay')!.Properties.Schema;
  const declared = FIXTURE_VIEWS.map((v) => v.name);
  // A from after the request's time is refused by the function alone (no schema holds a clock): the
  // cases' times are all before this.
  const AFTER_EVERY_CASE_MS = Date.parse('2030-01-01T00:00:00Z');

  it.each([
    ['all views, all time', {}],
    [
      'an arrival range as text',
      { views: ['page_views'], from: '2026-11-24T10:00:00Z', to: '2026-11-25T00:00:00Z' },
    ],
    ['an arrival range as epoch ms', { from: 1764547200000, to: 1764633600000 }],
    ['null times', { from: null, to: null }],
  ])('%s: accepted by both', (_name, body) => {
    expect('error' in parseReplayRequest(JSON.stringify(body), declared, AFTER_EVERY_CASE_MS)).toBe(false);
    expect(matchesDraft4(schema, body)).toBe(true);
  });

  it.each([
    // The fields the model used to declare: the function ignored them and replayed everything.
    ['fromMs/toMs', { fromMs: 1764547200000, toMs: 1764633600000 }],
    ['views as text', { views: 'page_views' }],
    // Not "every view": an empty list a client's filter produced would replay everything.
    ['an empty views list', { views: [] }],
  ])('%s: refused by both (400)', (_name, body) => {
    expect('error' in parseReplayRequest(JSON.stringify(body), declared, AFTER_EVERY_CASE_MS)).toBe(true);
    expect(matchesDraft4(schema, body)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import type { StreamEntry } from '../../lambdas/ports/event-stream';
import { ingestEvents } from '../../lambdas/services/ingest-events';

const views = validateViews([
  { name: 'a', eventType: 't', key: ['k'], granularity: '1h', measures: { s: { kind: 'sum', field: 'x' } } },
]);

function deps(refusals: number[][] = []) {
  const written: StreamEntry[] = [];
  const calls: number[] = [];
  let n = 0;
  return {
    written,
    calls,
    views,
    clock: { now: () => Date.UTC(2026, 0, 1) },
    maxBodyBytes: 10_000,
    sleep: async () => undefined,
    newId: () => `gen-${n++}`,
    stream: {
      putRecords: async (entries: readonly StreamEntry[]) => {
        calls.push(entries.length);
        const refused = refusals.shift() ?? [];
        entries.forEach((e, i) => {
          if (!refused.includes(i)) written.push(e);
        });
        return refused;
      },
    },
  };
}
const ok = { type: 't', time: '2026-01-01T00:00:00Z', k: 'x', x: 1 };

describe('ingestEvents', () => {
  it('stamps ids and ingestedAt, keeps given ids, and partitions by id', async () => {
    const d = deps();
    const res = await ingestEvents(JSON.stringify({ events: [ok, { ...ok, id: 'mine' }] }), d);
    expect(res).toEqual({ status: 202, body: { accepted: 2, ids: ['gen-0', 'mine'] } });
    expect(d.written.map((e) => e.partitionKey)).toEqual(['gen-0', 'mine']);
    expect(JSON.parse(d.written[0].data)).toMatchObject({
      id: 'gen-0',
      ingestedAt: '2026-01-01T00:00:00.000Z',
      time: '2026-01-01T00:00:00.000Z',
    });
  });

  it('accepts one CloudEvents event', async () => {
    const d = deps();
    const res = await ingestEvents(
      JSON.stringify({
        specversion: '1.0',
        id: 'c1',
        source: 's',
        type: 't',
        time: ok.time,
        data: { k: 'x', x: 2 },
      }),
      d,
    );
    expect(res.status).toBe(202);
    expect(JSON.parse(d.written[0].data)).toMatchObject({ id: 'c1', k: 'x', x: 2 });
  });

  it('is all or nothing: one bad event and nothing is written, every problem named', async () => {
    const d = deps();
    const res = await ingestEvents(JSON.stringify({ events: [ok, { ...ok, x: 'one' }, { type: 't' }] }), d);
    expect(res.status).toBe(400);
    expect(
      (res.body as { problems: { index: number; field: string }[] }).problems.map(
        (p) => `${p.index}:${p.field}`,
      ),
    ).toEqual(['1:x', '2:time', '2:k']);
    expect(d.written).toEqual([]);
  });

  it.each([
    ['not JSON', '{', 400],
    ['an empty batch', '{"events":[]}', 400],
    ['501 events', JSON.stringify({ events: Array.from({ length: 501 }, () => ok) }), 413],
    ['events that is not an array', '{"events":{}}', 400],
  ])('refuses %s', async (_, body, status) => {
    const d = deps();
    const res = await ingestEvents(body, { ...d, maxBodyBytes: status === 413 ? 1000 : 1_000_000 });
    expect(res.status).toBe(status);
    expect(d.written).toEqual([]);
  });

  it('refuses more than 500 events with 400', async () => {
    const res = await ingestEvents(JSON.stringify({ events: Array.from({ length: 501 }, () => ok) }), {
      ...deps(),
      maxBodyBytes: 1_000_000,
    });
    expect(res.status).toBe(400);
  });

  it('resends only the entries the stream refused', async () => {
    const d = deps([[1], []]);
    const res = await ingestEvents(JSON.stringify({ events: [ok, ok, ok] }), d);
    expect(res.status).toBe(202);
    expect(d.calls).toEqual([3, 1]);
    expect(d.written.map((e) => e.partitionKey).sort()).toEqual(['gen-0', 'gen-1', 'gen-2']);
  });

  it('answers 503 naming accepted and failed ids when the stream keeps refusing', async () => {
    const d = deps([[0], [0], [0], [0], [0]]);
    const res = await ingestEvents(JSON.stringify({ events: [ok, ok] }), d);
    expect(res).toMatchObject({
      status: 503,
      body: { accepted: ['gen-1'], failed: [{ index: 0, id: 'gen-0' }] },
    });
  });
});

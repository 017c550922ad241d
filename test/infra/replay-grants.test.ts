import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbEventClaims } from '../../lambdas/adapters/aws/dynamodb-event-claims';
import { DynamoDbKappaCellStore } from '../../lambdas/adapters/aws/dynamodb-kappa-cell-store';
import { DynamoDbKappaControlStore } from '../../lambdas/adapters/aws/dynamodb-kappa-control-store';
import {
  dropReplayCells,
  failReplay,
  finishReplay,
  replayReady,
  startReplay,
  type ReplayDeps,
} from '../../lambdas/services/kappa-replay';
import { offerChunkCopies, replayChunk } from '../../lambdas/services/kappa-replay-chunks';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import { archivedClick, CLICKS_T0 as T0, CLICKS_VIEWS } from '../fixtures/kappa-clicks';
import { InMemoryArchive } from '../services/in-memory-kappa';
import { synthKappa } from './kappa-fixture';

/**
 * The DynamoDB calls the replay function makes, recorded on the real adapters against the emulator
 * (which checks no IAM), must each be allowed by the replay role the stack synthesizes for that
 * table: a call missing from the role works locally and is refused in AWS. The finish of a
 * replay dropped the oldest version with a Scan the role did not allow.
 */
const [view] = CLICKS_VIEWS;

/** `GetCommand` (lib-dynamodb) or `GetItemCommand` (client) -> `dynamodb:GetItem`. */
function iamAction(commandName: string): string {
  const name = commandName.replace(/Command$/, '').replace(/Item$/, '');
  const item = ['Get', 'Put', 'Update', 'Delete', 'BatchWrite', 'BatchGet', 'ConditionCheck'];
  return `dynamodb:${name}${item.includes(name) ? 'Item' : ''}`;
}

/** Actions of the role `rolePrefix*` allowed on the table `tablePrefix*` (its ARN or its indexes). */
function allowedOnTable(template: Template, rolePrefix: string, tablePrefix: string): string[] {
  const ids = (type: string, prefix: string) =>
    Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  const [roleId] = ids('AWS::IAM::Role', rolePrefix);
  const [tableId] = ids('AWS::DynamoDB::Table', tablePrefix);
  type Statement = { Action: string | string[]; Resource: unknown };
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  return [
    ...new Set(
      statements
        .filter((s) => JSON.stringify(s.Resource).includes(`"${tableId}"`))
        .flatMap((s) => ([] as string[]).concat(s.Action)),
    ),
  ].sort();
}

describe('the replay role allows every DynamoDB call the replay function makes', () => {
  let tables: EmulatedTables;
  const calls = new Map<string, Set<string>>();

  beforeAll(async () => {
    tables = await startEmulatedTables('grants');
    tables.doc.middlewareStack.add(
      (next, context) => async (args) => {
        // Batch calls name their tables in RequestItems, not TableName.
        const input = args.input as { TableName?: string; RequestItems?: Record<string, unknown> };
        for (const table of input.TableName
          ? [input.TableName]
          : Object.keys(input.RequestItems ?? { '': 0 })) {
          if (!calls.has(table)) calls.set(table, new Set());
          calls.get(table)!.add(iamAction(context.commandName ?? 'unknown'));
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
  }, 120_000);
  afterAll(() => tables?.stop());

  it('records a replay lifecycle: three finished replays (the third drops the oldest version) and a failed one', async () => {
    // GIVEN the replay's own adapters on the emulator, and one archived event
    let now = T0;
    const archive = new InMemoryArchive();
    const line = archivedClick('e1', { sequenceNumber: '1', arrivedMs: T0 - 60_000 }, '2026-11-24T09:10:00Z');
    archive.put('events/dt=2026-11-24/hour=09/a.ndjson', `${line}\n`);
    const deps: ReplayDeps = {
      views: [view],
      cells: new DynamoDbKappaCellStore(tables.doc, tables.names.kappaTable),
      control: new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable),
      claims: new DynamoDbEventClaims(tables.doc, tables.names.dedupeTable, 86_400, { now: () => now }),
      archive,
      watermark: { archivedBeforeMs: async () => now + 3_600_000 },
      clock: { now: () => now },
      handoffDelayMs: 1000,
      archivePrefix: 'events/',
    };
    // WHEN the state machine's actions run, as the replay function runs them
    for (let i = 0; i < 3; i++) {
      const { replayId } = await startReplay({}, deps);
      now += 2000;
      expect((await replayReady(replayId, deps, 3_600_000)).ready).toBe(true);
      await offerChunkCopies(replayId, await archive.list(), deps);
      await replayChunk(
        replayId,
        await archive.list(),
        { chunkId: 'events/dt=2026-11-24/hour=09/a.ndjson', sole: false },
        deps,
      );
      const finished = await finishReplay(replayId, deps);
      expect(finished.dropped).toHaveLength(i < 2 ? 0 : 1);
      for (let drop = finished.drop; !drop.done;) drop = await dropReplayCells(replayId, drop.cursor, deps);
    }
    const failing = await startReplay({}, deps);
    await replayChunk(failing.replayId, await archive.list(), { chunkId: 'x', sole: false }, deps);
    const { drop } = await failReplay(failing.replayId, 'boom', deps);
    expect(drop.done).toBe(false);
    await dropReplayCells(failing.replayId, drop.cursor, deps);
    // THEN every call on the Kappa and control tables is one the synthesized replay role allows
    expect(calls.get(tables.names.kappaTable)).toContain('dynamodb:Scan');
    expect(calls.get(tables.names.dedupeTable)).toContain('dynamodb:BatchGetItem');
    const template = synthKappa().template();
    for (const [table, prefix] of [
      [tables.names.kappaTable, 'TablesKappaTable'],
      [tables.names.controlTable, 'TablesControlTable'],
      [tables.names.dedupeTable, 'TablesDedupeTable'],
    ] as const) {
      const allowed = allowedOnTable(template, 'ReplayHandlerRole', prefix);
      const missing = [...(calls.get(table) ?? [])].filter((action) => !allowed.includes(action));
      expect(missing, `${prefix}: made but not allowed`).toEqual([]);
    }
    // A replay lifecycle on the emulator and a synth of the Kappa stack: slow on a loaded machine.
  }, 300_000);
});

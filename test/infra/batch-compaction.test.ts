import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { typedFieldColumns } from '../../lambdas/core/typed-columns';
import { compactedTableColumns, typedFields } from '../../lambdas/core/typed-columns';
import { validateViews } from '../../lambdas/core/view';
import { ENV } from '../../lambdas/runtime/env';
import { checkAsl, resolveIntrinsics, type AslMachine, type AslState } from './asl';
import { FIXTURE_VIEWS, synth } from './stack-fixture';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

function definitionOf(template: Template): AslMachine {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Resource[];
  return JSON.parse(resolveIntrinsics(machines[0].Properties.DefinitionString)) as AslMachine;
}

/** Every policy statement with the id of the policy it is in. */
function statements(template: Template): { policy: string; statement: Statement }[] {
  const policies = template.findResources('AWS::IAM::Policy') as Record<string, Resource>;
  return Object.entries(policies).flatMap(([policy, p]) =>
    (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.map((statement) => ({
      policy,
      statement,
    })),
  );
}

function batchEnv(template: Template, handlerId: string): Record<string, unknown> {
  const functions = template.findResources('AWS::Lambda::Function') as Record<string, Resource>;
  return (functions[handlerId].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

const COMPACTION_STATES = [
  'Compact',
  'CompactionDone',
  'WaitForCompaction',
  'CheckCompaction',
  'CompactionQueriesDone',
  'AdvanceCompaction',
];

describe('the cloud compaction step before the batch plan (ADR 011)', () => {
  // GIVEN the stack with default props (compaction on) and one with batchCompaction: false
  const on = synth();
  const off = synth({ batchCompaction: false });
  const template = on.template();
  const plain = off.template();
  const S = definitionOf(template).States;
  const handlerId = on.stack.getLogicalId(
    on.stack.batchLayer.handler.function.node.defaultChild as Parameters<typeof on.stack.getLogicalId>[0],
  );

  it('starts every run with a compaction loop that polls its Athena queries, then plans', () => {
    const definition = definitionOf(template);
    expect(checkAsl(definition)).toEqual([]);
    expect(definition.StartAt).toBe('Compact');
    expect(S.Compact.Next).toBe('CompactionDone');
    expect(JSON.stringify(S.Compact)).toContain('"action":"compact"');
    expect(JSON.stringify(S.Compact)).not.toContain('compaction.$');
    expect(S.CompactionDone).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.compaction.phase', StringEquals: 'done', Next: 'Plan' }],
      Default: 'WaitForCompaction',
    });
    expect(S.WaitForCompaction).toMatchObject({ Type: 'Wait', Seconds: 15, Next: 'CheckCompaction' });
    expect(JSON.stringify(S.CheckCompaction)).toContain('"queries.$":"$.compaction.queries"');
    expect(S.CheckCompaction.Next).toBe('CompactionQueriesDone');
    expect(S.CompactionQueriesDone).toMatchObject({
      Choices: [{ Variable: '$.compactionQueries.done', BooleanEquals: true, Next: 'AdvanceCompaction' }],
      Default: 'WaitForCompaction',
    });
    expect(JSON.stringify(S.AdvanceCompaction)).toContain('"compaction.$":"$.compaction"');
    expect(S.AdvanceCompaction.Next).toBe('CompactionDone');
    // Plan is reached only once the compaction is done.
    const into = (name: string) =>
      Object.entries(S)
        .filter(([, st]) => st.Next === name || JSON.stringify(st.Choices ?? []).includes(`"Next":"${name}"`))
        .map(([n]) => n);
    expect(into('Plan')).toEqual(['CompactionDone']);
  });

  it('fails the run, before anything is written, when a compaction step fails', () => {
    for (const name of ['Compact', 'CheckCompaction', 'AdvanceCompaction'])
      expect(S[name].Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RunFailed' },
      ]);
  });

  it('creates a Glue table over compacted/ with the columns of the Parquet files and partitions g, edt, ehr', () => {
    template.resourceCountIs('AWS::Glue::Table', 2);
    template.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: Match.anyValue(),
      TableInput: Match.objectLike({
        Name: 'compacted',
        TableType: 'EXTERNAL_TABLE',
        PartitionKeys: [
          { Name: 'g', Type: 'string' },
          { Name: 'edt', Type: 'string' },
          { Name: 'ehr', Type: 'string' },
        ],
        StorageDescriptor: Match.objectLike({
          Location: {
            'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('^ArchiveBucket') }, '/compacted/']],
          },
          // The line, the meta columns, then each field the views read (page, userId) as its
          // hex-named text and JSON type code (ADR 019).
          Columns: [
            { Name: 'line', Type: 'string' },
            { Name: 'eid', Type: 'string' },
            { Name: 'am', Type: 'bigint' },
            { Name: 'shard', Type: 'string' },
            { Name: 'seq', Type: 'string' },
            { Name: 'etype', Type: 'string' },
            { Name: 'tm', Type: 'bigint' },
            { Name: 'fv_70616765', Type: 'string' },
            { Name: 'ft_70616765', Type: 'string' },
            { Name: 'fv_757365724964', Type: 'string' },
            { Name: 'ft_757365724964', Type: 'string' },
          ],
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        }),
      }),
    });
  });

  it('declares the typed columns of the fields core/typed-columns.ts derives from the views, and a new view adds its own in place (ADR 019)', () => {
    const columnsOf = (t: Template) =>
      (
        Object.values(
          t.findResources('AWS::Glue::Table', { Properties: { TableInput: { Name: 'compacted' } } }),
        ) as { Properties: { TableInput: { StorageDescriptor: { Columns: unknown } } } }[]
      ).map((r) => r.Properties.TableInput.StorageDescriptor.Columns);
    const asGlue = (views: Parameters<typeof typedFields>[0]) =>
      compactedTableColumns(typedFields(views)).map((c) => ({ Name: c.name, Type: c.type }));
    expect(columnsOf(template)).toEqual([asGlue(FIXTURE_VIEWS)]);
    // WHEN a deployment adds a view reading new fields
    const added = validateViews([
      ...FIXTURE_VIEWS,
      {
        name: 'revenue',
        eventType: 'order',
        key: ['shop.region'],
        granularity: '1h',
        measures: { total: { kind: 'sum', field: 'amount' } },
      },
    ]);
    const more = synth({ views: added });
    const table = (s: typeof on) =>
      s.stack.getLogicalId(s.stack.batchLayer.compactedTable! as Parameters<typeof s.stack.getLogicalId>[0]);
    // THEN the same table (same logical id: updated, not replaced) declares the new fields too
    expect(table(more)).toBe(table(on));
    expect(columnsOf(more.template())).toEqual([asGlue(added)]);
    expect(JSON.stringify(columnsOf(more.template()))).toContain(typedFieldColumns('shop.region').value);
  });

  it('updates the table before the function that writes and reads its columns (the function depends on it)', () => {
    const functions = template.findResources('AWS::Lambda::Function') as Record<
      string,
      { DependsOn?: string[] }
    >;
    const tableId = on.stack.getLogicalId(
      on.stack.batchLayer.compactedTable! as Parameters<typeof on.stack.getLogicalId>[0],
    );
    expect(functions[handlerId].DependsOn).toContain(tableId);
    const plainFunctions = plain.findResources('AWS::Lambda::Function') as Record<
      string,
      { DependsOn?: string[] }
    >;
    expect(JSON.stringify(plainFunctions)).not.toContain('CompactedTable');
  });

  it('retains the table when compaction is turned off (an empty table under the old manifests would lose their rows)', () => {
    const tables = template.findResources('AWS::Glue::Table', {
      Properties: { TableInput: { Name: 'compacted' } },
    }) as Record<string, { DeletionPolicy?: string; UpdateReplacePolicy?: string }>;
    expect(Object.values(tables).map((t) => [t.DeletionPolicy, t.UpdateReplacePolicy])).toEqual([
      ['Retain', 'Retain'],
    ]);
  });

  it('tells the steps function the table and the period', () => {
    const env = batchEnv(template, handlerId);
    expect(env[ENV.athenaCompactedTable]).toBe('compacted');
    expect(env[ENV.athenaCompactionPeriodMs]).toBe('86400000');
  });

  it('lets the steps function alone write and read compacted/ and register partitions of that one table', () => {
    const compactedObjects = statements(template).filter(({ statement }) =>
      JSON.stringify(statement.Resource).includes('/compacted/*'),
    );
    expect(compactedObjects).toEqual([
      {
        policy: expect.stringMatching(/^BatchLayerHandlerRole/),
        statement: {
          Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
          Effect: 'Allow',
          Resource: {
            'Fn::Join': [
              '',
              [{ 'Fn::GetAtt': [expect.stringMatching(/^ArchiveBucket/), 'Arn'] }, '/compacted/*'],
            ],
          },
        },
      },
    ]);
    const glueOnTable = statements(template).filter(
      ({ statement }) =>
        [statement.Action].flat().some((a) => a.startsWith('glue:')) &&
        resolveIntrinsics(JSON.stringify(statement.Resource)).includes('/compacted'),
    );
    const catalog = statements(template).filter(({ statement }) =>
      [statement.Action].flat().some((a) => a.includes('Partition') && a !== 'glue:GetPartitions'),
    );
    expect(catalog.map((c) => c.policy)).toEqual([expect.stringMatching(/^BatchLayerHandlerRole/)]);
    expect(catalog[0].statement.Action).toEqual([
      'glue:GetTable',
      'glue:GetPartition',
      'glue:GetPartitions',
      'glue:BatchCreatePartition',
      'glue:CreatePartition',
    ]);
    expect(JSON.stringify(catalog[0].statement.Resource)).toMatch(/:table\/[^"]*\/compacted"/);
    expect(JSON.stringify(catalog[0].statement.Resource)).not.toMatch(/:table\/[^"]*\/events"/);
    expect(glueOnTable.map((g) => g.policy)).toEqual([expect.stringMatching(/^BatchLayerHandlerRole/)]);
  });

  it('leaves the stack as it was without compaction when batchCompaction is false', () => {
    const definition = definitionOf(plain);
    expect(definition.StartAt).toBe('Plan');
    for (const name of COMPACTION_STATES) expect(definition.States[name], name).toBeUndefined();
    // The other states are those of the compacting machine, unchanged.
    const rest = Object.fromEntries(
      Object.entries(S).filter(([name]) => !COMPACTION_STATES.includes(name)),
    ) as Record<string, AslState>;
    expect(definition.States).toEqual(rest);
    plain.resourceCountIs('AWS::Glue::Table', 1);
    expect(JSON.stringify(plain.toJSON())).not.toMatch(/compacted|Compaction/i);
    const env = batchEnv(plain, handlerId);
    expect(env[ENV.athenaCompactedTable]).toBeUndefined();
    // Every resource of the plain stack is in the compacting one with the same properties, but
    // the two functions of the batch layer (their environment), the steps function's policy and
    // the state machine (its definition).
    const all = template.toJSON().Resources as Record<string, Resource>;
    const changed = Object.entries(plain.toJSON().Resources as Record<string, Resource>)
      .filter(([id, r]) => JSON.stringify(all[id]) !== JSON.stringify(r))
      .map(([id]) => id)
      .sort();
    expect(changed).toEqual([
      handlerId,
      expect.stringMatching(/^BatchLayerHandlerRoleDefaultPolicy/),
      expect.stringMatching(/^BatchLayerStarterFunction/),
      expect.stringMatching(/^BatchLayerStateMachine[0-9A-F]{8}$/),
    ]);
    // And the compacting stack adds only the table.
    const added = Object.keys(all).filter((id) => !(id in (plain.toJSON().Resources as object)));
    expect(added).toEqual([expect.stringMatching(/^BatchLayerCompactedTable/)]);
  });

  it('fails if the compaction period is shorter than an hour (raw objects are known to the hour only)', () => {
    expect(() => synth({ batchCompactionPeriod: Duration.minutes(30) })).toThrow(
      'compactionPeriod (hours) must be between 1 and 720 (given 0.5)',
    );
    const sixHours = synth({ batchCompactionPeriod: Duration.hours(6) });
    expect(batchEnv(sixHours.template(), handlerId)[ENV.athenaCompactionPeriodMs]).toBe(
      String(6 * 3_600_000),
    );
  });
});

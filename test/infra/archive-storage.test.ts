import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/build-app';
import { Archive, DEFAULT_ARCHIVE_START_DATE } from '../../lib/constructs/archive';
import { synth } from './stack-fixture';

const FIXTURE = 'test/infra/fixtures/views.ts';

/** The NDJSON Glue table's `projection.dt.range` in a template (the compacted table, ADR 011, registers its partitions). */
function projectionRange(template: Template): unknown {
  const tables = Object.values(
    template.findResources('AWS::Glue::Table', { Properties: { TableInput: { Name: 'events' } } }),
  ) as {
    Properties: { TableInput: { Parameters: Record<string, unknown> } };
  }[];
  expect(tables.length).toBe(1);
  return tables[0].Properties.TableInput.Parameters['projection.dt.range'];
}

/** Every storage class the bucket's lifecycle rules move objects to. */
function transitionClasses(template: Template): string[] {
  const buckets = Object.values(template.findResources('AWS::S3::Bucket')) as {
    Properties: { LifecycleConfiguration?: { Rules: { Transitions?: { StorageClass: string }[] }[] } };
  }[];
  return buckets.flatMap((b) =>
    (b.Properties.LifecycleConfiguration?.Rules ?? []).flatMap((r) =>
      (r.Transitions ?? []).map((t) => t.StorageClass),
    ),
  );
}

function archiveStack(props: Partial<ConstructorParameters<typeof Archive>[2]> = {}): Template {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
  new Archive(stack, 'Archive', { stream: new kinesis.Stream(stack, 'Stream'), viewsJson: '[]', ...props });
  return Template.fromStack(stack);
}

describe('the archive partition projection range', () => {
  it('starts at the first day any streamfold archive can hold by default, not in 2020', () => {
    // GIVEN the stack with default props
    const template = synth().template();
    // THEN the projection enumerates days from the project's first day to today
    expect(DEFAULT_ARCHIVE_START_DATE).toBe('2026-11-24');
    expect(projectionRange(template)).toBe('2026-11-24,NOW');
  });

  it('starts at archiveStartDate when the stack is given one', () => {
    expect(projectionRange(synth({ archiveStartDate: '2027-03-05' }).template())).toBe('2027-03-05,NOW');
  });

  it('takes the start from the archiveStartDate context of the app', () => {
    // GIVEN -c archiveStartDate=2027-01-31 with architecture=both (one archive, in the Lambda stack)
    const app = new App({
      context: {
        'aws:cdk:bundling-stacks': [],
        architecture: 'both',
        views: FIXTURE,
        archiveStartDate: '2027-01-31',
      },
    });
    const [lambda] = buildApp(app);
    // THEN the one Glue table projects from that day
    expect(projectionRange(Template.fromStack(lambda))).toBe('2027-01-31,NOW');
  });

  it('takes the start from the context of a Kappa-only app, which owns its archive', () => {
    const app = new App({
      context: {
        'aws:cdk:bundling-stacks': [],
        architecture: 'kappa',
        views: FIXTURE,
        archiveStartDate: '2027-02-01',
      },
    });
    expect(projectionRange(Template.fromStack(buildApp(app)[0]))).toBe('2027-02-01,NOW');
  });

  it.each(['2027-13-01', '2027-02-30', '27-01-01', '2027-1-1', 'yesterday'])(
    'fails if archiveStartDate is not a yyyy-MM-dd date (%s)',
    (given) => {
      expect(() => archiveStack({ archiveStartDate: given })).toThrow(
        `archiveStartDate must be a date written yyyy-MM-dd (given ${JSON.stringify(given)})`,
      );
    },
  );
});

describe('the archive storage class', () => {
  it('moves events to Intelligent-Tiering (no retrieval charge) after 30 days, and never to a Glacier class', () => {
    const template = synth().template();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'events/',
            Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 30 }],
          }),
        ]),
      },
    });
    expect(transitionClasses(template)).toEqual(['INTELLIGENT_TIERING']);
    // no opt-in Archive Access tier either: those need a restore before the batch layer could read
    template.resourcePropertiesCountIs(
      'AWS::S3::Bucket',
      { IntelligentTieringConfigurations: Match.anyValue() },
      0,
    );
  });

  it('takes the transition day from archiveTransitionDays, 0 included', () => {
    expect(transitionClasses(archiveStack({ archiveTransitionDays: 0 }))).toEqual(['INTELLIGENT_TIERING']);
    archiveStack({ archiveTransitionDays: 0 }).hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 0 }] }),
        ]),
      },
    });
  });
});

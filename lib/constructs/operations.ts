import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as athena from 'aws-cdk-lib/aws-athena';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../../lambdas/runtime/service-name';

/** Props of Operations. */
export interface OperationsProps {
  /** The event stream (incoming records on the dashboard). */
  readonly stream: kinesis.IStream;
  /** The functions to watch for errors and throttles, by a short name (part of each alarm's ID). */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** The stream consumer whose iterator age is watched: the speed layer's function, or the Kappa processor. */
  readonly speedFunction: lambda.IFunction;
  /**
   * What the dashboard and the iterator-age alarm call that consumer.
   * @default 'speed layer'
   */
  readonly consumerName?: string;
  /**
   * The batch layer's function (failed runs, reconciliation).
   * @default - no batch layer (Kappa): no batch widgets and no reconciliation alarm
   */
  readonly batchFunction?: lambda.IFunction;
  /** Dead-letter queues to alarm on as soon as they hold a message. */
  readonly deadLetterQueues: readonly sqs.IQueue[];
  /**
   * How often the batch layer runs: the reconciliation alarm's period, so that its two evaluation
   * periods are two runs in a row.
   * @default Duration.minutes(15)
   */
  readonly batchSchedule?: Duration;
  /**
   * The Athena workgroup of the batch layer (bytes scanned per query).
   * @default - no Athena queries (Kappa): no bytes alarm
   */
  readonly workGroup?: athena.CfnWorkGroup;
  /**
   * The Kappa replay's state machine (executions and their duration on the dashboard; its alarms live in Replay).
   * @default - no replay widgets
   */
  readonly replayStateMachine?: sfn.IStateMachine;
  /**
   * Speed layer iterator age above which the alarm fires.
   * @default Duration.minutes(5)
   */
  readonly maxIteratorAge?: Duration;
  /**
   * Bytes an Athena query may scan before the alarm fires (below the workgroup's hard cutoff).
   * @default 5 GiB
   */
  readonly athenaBytesAlarm?: number;
}

/**
 * A dashboard and the alarms an operator needs: lag, errors, throttles, DLQ depth, and with a batch
 * layer its failures, Athena bytes and reconciliation.
 */
export class Operations extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const alarm = (name: string, metric: cloudwatch.IMetric, threshold: number, description: string) => {
      const a = new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      this.alarms.push(a);
      return a;
    };
    const consumer = props.consumerName ?? 'speed layer';
    const iteratorAge = props.speedFunction.metric('IteratorAge', {
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
    alarm(
      'IteratorAgeAlarm',
      iteratorAge,
      (props.maxIteratorAge ?? Duration.minutes(5)).toMilliseconds(),
      `The ${consumer} is falling behind the stream.`,
    );
    for (const [name, fn] of Object.entries(props.functions)) {
      alarm(
        `${name}ErrorsAlarm`,
        fn.metricErrors({ period: Duration.minutes(5) }),
        0,
        `The ${name} function failed.`,
      );
      alarm(
        `${name}ThrottlesAlarm`,
        fn.metricThrottles({ period: Duration.minutes(5) }),
        0,
        `The ${name} function was throttled.`,
      );
    }
    props.deadLetterQueues.forEach((queue, i) =>
      alarm(
        `DeadLetterDepthAlarm${i}`,
        queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        0,
        `Dead-letter queue ${i} holds failed records.`,
      ),
    );
    const widgets: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: 'Ingestion (records in)',
        left: [props.stream.metricIncomingRecords({ period: Duration.minutes(1) })],
      }),
      new cloudwatch.GraphWidget({
        title: `${consumer.charAt(0).toUpperCase()}${consumer.slice(1)} iterator age (ms)`,
        left: [iteratorAge],
      }),
      new cloudwatch.GraphWidget({
        title: 'Errors',
        left: Object.entries(props.functions).map(([n, f]) => f.metricErrors({ label: n })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Throttles',
        left: Object.entries(props.functions).map(([n, f]) => f.metricThrottles({ label: n })),
      }),
    ];
    if (props.deadLetterQueues.length > 0)
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'Dead-letter depth',
          left: props.deadLetterQueues.map((q) => q.metricApproximateNumberOfMessagesVisible()),
        }),
      );
    if (props.batchFunction && props.workGroup) {
      const batchFailures = props.batchFunction.metricErrors({ period: Duration.hours(1) });
      // Athena publishes ProcessedBytes per WorkGroup, QueryState and QueryType together (no
      // WorkGroup-only series: an alarm on that dimension alone never gets data). The batch layer runs
      // DML queries; a query the workgroup's cutoff cancels is CANCELED, one that fails is FAILED.
      // https://docs.aws.amazon.com/athena/latest/ug/query-metrics-viewing.html
      const workGroupName = props.workGroup.ref;
      const bytesBy = (state: string) =>
        new cloudwatch.Metric({
          namespace: 'AWS/Athena',
          metricName: 'ProcessedBytes',
          dimensionsMap: { WorkGroup: workGroupName, QueryState: state, QueryType: 'DML' },
          statistic: 'Maximum',
          period: Duration.minutes(15),
        });
      const bytes = new cloudwatch.MathExpression({
        expression: 'MAX([succeeded, failed, canceled])',
        usingMetrics: {
          succeeded: bytesBy('SUCCEEDED'),
          failed: bytesBy('FAILED'),
          canceled: bytesBy('CANCELED'),
        },
        label: 'Athena bytes scanned (largest query)',
        period: Duration.minutes(15),
      });
      alarm(
        'AthenaBytesAlarm',
        bytes,
        props.athenaBytesAlarm ?? 5 * 1024 ** 3,
        'A batch query scanned more than expected: compact the archive or narrow the views.',
      );

      // The batch layer compares its cells with the speed rows of each new arrival window; a
      // difference in two runs in a row (one could be speed-layer lag) means the archive was not
      // complete when the cutoff passed: raise the archive margin and investigate. One period is one
      // run (the schedule's rate), and Minimum > 0 means every run of the period disagreed, so two
      // breaching periods in a row are two runs in a row (not two runs somewhere in two hours).
      // CloudWatch evaluates at most one day of periods: beyond a 12-hour schedule the period stays 12 hours.
      const schedule = Duration.minutes(
        Math.min((props.batchSchedule ?? Duration.minutes(15)).toMinutes(), 12 * 60),
      );
      const mismatches = new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'ReconciliationMismatches',
        // Powertools Metrics puts the service dimension on every metric the functions emit.
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Minimum',
        period: schedule,
      });
      this.alarms.push(
        new cloudwatch.Alarm(this, 'ReconciliationAlarm', {
          metric: mismatches,
          threshold: 0,
          evaluationPeriods: 2,
          datapointsToAlarm: 2,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription:
            "Batch and speed layers disagreed on their arrival window in two batch runs in a row (each run's 'batch run' log line lists up to 20 mismatches with both values). If the speed layer's iterator-age alarm fired too, it was behind: its values are the lower, served values are unaffected, and runs after it catches up agree again. A reconciliation.error means a run's comparison did not finish. Otherwise the batch cutoff may have passed arrival time the archive did not hold, or a layer miscounted: file an issue.",
        }),
      );
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'Batch runs failed / Athena bytes',
          left: [batchFailures],
          right: [bytes],
        }),
        new cloudwatch.GraphWidget({ title: 'Batch vs speed reconciliation mismatches', left: [mismatches] }),
      );
    } else if (props.batchFunction || props.workGroup) {
      throw new Error(
        'batchFunction and workGroup go together: give both (Lambda architecture) or neither (Kappa)',
      );
    }
    if (props.replayStateMachine) {
      const replay = props.replayStateMachine;
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'Replays started / failed / timed out, duration (ms)',
          left: [replay.metricStarted(), replay.metricFailed(), replay.metricTimedOut()],
          right: [replay.metricTime({ statistic: 'Maximum' })],
        }),
      );
    }
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard');
    this.dashboard.addWidgets(...widgets);
  }
}

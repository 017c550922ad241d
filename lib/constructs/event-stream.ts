import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';
import { checkRange } from './validate';

/** Props of EventStream. */
export interface EventStreamProps {
  /**
   * Provisioned shards; leave unset for on-demand capacity.
   * @default - on-demand
   */
  readonly shardCount?: number;
  /**
   * How long records stay on the stream: room for retries, redrives and a late speed layer.
   * @default Duration.days(7)
   */
  readonly retention?: Duration;
  /**
   * What happens to the stream when the stack is deleted (a retained stream keeps billing).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The Kinesis Data Stream every event goes through: encrypted, on-demand unless shards are given. */
export class EventStream extends Construct {
  readonly stream: kinesis.Stream;

  constructor(scope: Construct, id: string, props: EventStreamProps = {}) {
    super(scope, id);
    if (props.shardCount !== undefined) checkRange('shardCount', props.shardCount, 1, 500);
    const retention = props.retention ?? Duration.days(7);
    checkRange('retention', retention.toHours(), 24, 8760, { unit: 'hours', integer: false });
    this.stream = new kinesis.Stream(this, 'Stream', {
      streamMode:
        props.shardCount === undefined ? kinesis.StreamMode.ON_DEMAND : kinesis.StreamMode.PROVISIONED,
      shardCount: props.shardCount,
      retentionPeriod: retention,
      encryption: kinesis.StreamEncryption.MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}

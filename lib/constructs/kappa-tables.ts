import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { servingTable } from './serving-tables';

/** Props of KappaTables. */
export interface KappaTablesProps {
  /**
   * What happens to the tables when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The Kappa architecture's tables, built like the Lambda architecture's (`pk`/`sk` strings, on
 * demand, encrypted, point-in-time recovery): the versioned serving rows of every view, the
 * control table (one pointer per view: active and previous version, the running replay), and the
 * event-id claims. A Kappa stack deployed beside a Lambda stack (`architecture=both`) has its
 * own three tables: only the stream and the archive are shared.
 */
export class KappaTables extends Construct {
  /** Serving rows of every view, every version (the version is part of the key). */
  readonly kappaTable: dynamodb.Table;
  /** Per-view pointers and replay bookkeeping. */
  readonly controlTable: dynamodb.Table;
  /** Event-id claims (TTL attribute `expiresAt`, as the speed layer's). */
  readonly dedupeTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: KappaTablesProps = {}) {
    super(scope, id);
    this.kappaTable = servingTable(this, 'KappaTable', props.removalPolicy);
    this.controlTable = servingTable(this, 'ControlTable', props.removalPolicy);
    this.dedupeTable = servingTable(this, 'DedupeTable', props.removalPolicy, 'expiresAt');
  }
}

import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

/**
 * One serving-layer table: `pk`/`sk` strings, on demand, AWS-managed encryption, point-in-time
 * recovery, optional TTL attribute. Shared by ServingTables (Lambda) and KappaTables (Kappa).
 */
export function servingTable(
  scope: Construct,
  id: string,
  removalPolicy: RemovalPolicy | undefined,
  ttlAttribute?: string,
): dynamodb.Table {
  return new dynamodb.Table(scope, id, {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: ttlAttribute,
    removalPolicy: removalPolicy ?? RemovalPolicy.RETAIN,
  });
}

/** Props of ServingTables. */
export interface ServingTablesProps {
  /**
   * What happens to the tables when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The serving layer's tables (all `pk`/`sk` strings, on demand, encrypted, point-in-time
 * recovery): speed rows, versioned batch cells, the serving pointer, and event-id claims.
 */
export class ServingTables extends Construct {
  readonly speedTable: dynamodb.Table;
  readonly batchTable: dynamodb.Table;
  readonly controlTable: dynamodb.Table;
  readonly dedupeTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: ServingTablesProps = {}) {
    super(scope, id);
    const table = (name: string, ttl?: string) => servingTable(this, name, props.removalPolicy, ttl);
    this.speedTable = table('SpeedTable', 'expiresAt');
    this.batchTable = table('BatchTable');
    this.controlTable = table('ControlTable');
    this.dedupeTable = table('DedupeTable', 'expiresAt');
  }
}

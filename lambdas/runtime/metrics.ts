import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, SERVICE_NAME } from './service-name';

/**
 * The functions' custom metrics (Powertools Metrics): CloudWatch embedded-metric-format lines in
 * the function's log, turned into metrics in the `Streamfold` namespace with the dimension
 * `service=streamfold` (no PutMetricData call, no permission), which alarms watch.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

/** Writes one count metric now (a handler emits at most one or two per invocation: no buffering across them). */
export function emitCountMetric(name: string, value: number, sink: Metrics = metrics): void {
  sink.addMetric(name, MetricUnit.Count, value);
  sink.publishStoredMetrics();
}

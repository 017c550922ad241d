/**
 * The `service` of every log line and the `service` dimension of every custom metric (Powertools
 * adds it to each one): lib/constructs/operations.ts alarms on metrics with this dimension.
 */
export const SERVICE_NAME = 'streamfold';

/** The CloudWatch namespace of the functions' custom metrics. */
export const METRICS_NAMESPACE = 'Streamfold';

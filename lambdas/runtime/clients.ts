/**
 * Every client factory, for the local runtime, benchmarks and tests. Handlers import the one
 * module of each service they use (clients/kinesis, clients/dynamodb, ...), so a function's
 * bundle carries only its own SDK clients.
 */
export * from './clients/endpoints';
export * from './clients/athena';
export * from './clients/cloudwatch';
export * from './clients/dynamodb';
export * from './clients/kinesis';
export * from './clients/s3';
export * from './clients/sfn';
export * from './clients/sqs';

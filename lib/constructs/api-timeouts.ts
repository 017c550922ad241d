import { Duration } from 'aws-cdk-lib';

/**
 * How long API Gateway waits for a Lambda proxy integration: 29 s, the REST API's default maximum
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). Past it API Gateway
 * answers 504 "Endpoint request timed out" on its own, and whatever the function answers later is
 * lost (https://repost.aws/knowledge-center/api-gateway-504-errors).
 */
export const API_INTEGRATION_TIMEOUT = Duration.seconds(29);

/**
 * The timeout of every function behind the API: under API_INTEGRATION_TIMEOUT, so the function's
 * own answer (the ingest's 503 naming every stamped id at 25 s, the query's 503 before its
 * timeout) or its error reaches the client rather than API Gateway's 504. The 2 s left cover the
 * invoke itself and part of a cold start, whose init Lambda does not count in the timeout.
 */
export const API_FUNCTION_TIMEOUT = Duration.seconds(27);
